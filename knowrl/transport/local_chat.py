"""A local causal LM as a chat transport: greedy generation with the model's chat template, batched, cached by
conversation like an endpoint's replies (`complete_many`)."""

from __future__ import annotations

from collections.abc import Callable

from knowrl.models.generation import chat_prompts, generate_batched, load_causal_lm
from knowrl.transport.cache import cached_many
from knowrl.transport.stats import CallStats
from storage.llm_cache import LLMCache


class LocalChatModel:
    """`complete_many` with a Hugging Face causal LM loaded once (on the GPU when there is one)."""

    backend = "hf"

    def __init__(self, model_name: str, cache: LLMCache | None, max_new_tokens: int, batch_size: int = 8) -> None:
        self.name = model_name
        self.model, self.tokenizer = load_causal_lm(model_name)
        self.cache = cache
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.stats = CallStats()

    def describe(self) -> str:
        return f"local model {self.name}"

    def _generate(self, conversations: list[list[dict[str, str]]]) -> list[str | None]:
        prompts = chat_prompts(self.tokenizer, conversations)
        self.stats.calls += len(prompts)
        generations = generate_batched(self.model, self.tokenizer, prompts, self.max_new_tokens, self.batch_size)
        return [g.text for g in generations]

    def complete_many(
        self, conversations: list[list[dict[str, str]]], on_reply: Callable[[int, str | None], None] | None = None
    ) -> list[str | None]:
        """Replies in order; `on_reply(index, reply)` for each once the batch is generated."""
        replies = cached_many(self.cache, self.backend, self.name, conversations, self._generate, self.stats)
        if on_reply is not None:
            for index, reply in enumerate(replies):
                on_reply(index, reply)
        return replies
