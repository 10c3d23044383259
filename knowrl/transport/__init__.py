"""How a chat request reaches a model: an OpenAI-compatible endpoint (openai_chat.py: concurrency, retries,
request and token rate limits) or a local causal LM (local_chat.py), both behind `complete_many(conversations) ->
list[str | None]`, with every reply cached in the warehouse (cache.py) and every call counted (stats.py). The judging
rules (what to ask, how to read the reply) are knowrl/judges/; this package only carries the requests."""

from knowrl.transport.stats import CallStats

__all__ = ["CallStats"]
