"""An OpenAI-compatible chat transport: the `openai` package's AsyncOpenAI (retries with exponential backoff that
honour Retry-After, timeouts, connection pooling), a semaphore bounding concurrency, the endpoint's request and
token rate limits (rate_limit.py), and the warehouse cache in front (`cached_many`). Every reply's usage (prompt
and completion tokens) and the model the endpoint says answered are counted in `stats`.

Calls run on the process's background event loop (`event_loop.py`), and each ChatClient keeps one AsyncOpenAI
client there for its lifetime: connections stay alive from one GRPO step to the next instead of being opened
(and, for a hosted API, TLS-negotiated) again every batch. The client sends over aiohttp (the `openai[aiohttp]`
transport): a GRPO step makes hundreds of calls at once, and per call it costs about half the CPU of the default
httpx pool, whose bookkeeping grows with the number of open connections (benchmarks/bench_rewards.py). Retries,
Retry-After, timeouts and proxies from the environment stay the `openai` client's.

Works with any server that speaks `/v1/chat/completions` (vLLM, a hosted API). The API key is read from the
environment variable the config names, at call time; it is never logged, cached or put in an error message.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from knowrl.config.backends import EndpointConfig
from knowrl.errors import ConfigError
from knowrl.transport.cache import cached_many
from knowrl.transport.event_loop import background_loop
from knowrl.transport.rate_limit import estimate_tokens, limiter_for
from knowrl.transport.stats import CallStats
from storage.llm_cache import LLMCache

log = logging.getLogger("knowrl.transport")
HOSTED_APIS = ("api.openai.com",)


class EndpointConfigError(ConfigError):
    """A judge endpoint cannot be used as configured (e.g. a hosted API without its key)."""


class ChatClient:
    """`complete_many` over an OpenAI-compatible endpoint."""

    backend = "openai"

    def __init__(
        self, cfg: EndpointConfig, cache: LLMCache | None = None, max_tokens: int = 512, stats: CallStats | None = None
    ) -> None:
        self.cfg = cfg
        self.cache = cache
        self.stats = stats or CallStats()
        self.params = {"temperature": 0.0, "max_tokens": max_tokens}
        self._async_client: tuple[asyncio.AbstractEventLoop, str, Any] | None = None  # (loop, key, AsyncOpenAI)
        self.limiter = limiter_for(
            cfg.base_url, cfg.model, cfg.api_key_env, cfg.requests_per_minute, cfg.tokens_per_minute
        )
        if not os.environ.get(cfg.api_key_env) and any(host in cfg.base_url for host in HOSTED_APIS):
            raise EndpointConfigError(
                f"endpoint {cfg.base_url} needs an API key: set the environment variable {cfg.api_key_env} "
                "(or point base_url at your own OpenAI-compatible server)"
            )

    def describe(self) -> str:
        """Where the requests go, for messages (never the key)."""
        return f"{self.cfg.model} at {self.cfg.base_url}"

    def complete_many(self, conversations: list[list[dict[str, str]]]) -> list[str | None]:
        """Replies in order; None where the endpoint still failed after retries. Cached replies cost no call."""
        payloads = [{"messages": c, **self.params} for c in conversations]
        return cached_many(
            self.cache,
            self.backend,
            self.cfg.model,
            payloads,
            lambda todo: background_loop().run(self._call_all(todo)),
            self.stats,
        )

    def _client(self) -> Any:
        """This client's AsyncOpenAI on the running (background) loop, built on first use, and again when the key
        in the environment changed or the process forked (a loop and its connections are per process)."""
        from openai import AsyncOpenAI, DefaultAioHttpClient

        # Servers we run ourselves (vLLM) take any key; the client library insists on one.
        key = os.environ.get(self.cfg.api_key_env) or "unused"
        loop = asyncio.get_running_loop()
        cached = self._async_client
        if cached is not None and cached[0] is loop and cached[1] == key:
            return cached[2]
        runner = background_loop()
        if cached is not None and cached[0] is loop:
            runner.release(cached[2])  # the old key's connections
        client = AsyncOpenAI(
            api_key=key,
            base_url=self.cfg.base_url,
            timeout=self.cfg.timeout_s,
            max_retries=self.cfg.max_retries,
            http_client=DefaultAioHttpClient(timeout=self.cfg.timeout_s),
        )
        runner.adopt(self, client)
        self._async_client = (loop, key, client)
        return client

    async def _call_all(self, payloads: list[dict[str, Any]]) -> list[str | None]:
        semaphore = asyncio.Semaphore(self.cfg.concurrency)
        client = self._client()

        async def one(payload: dict[str, Any]) -> str | None:
            async with semaphore:
                return await self._call(client, payload)

        return list(await asyncio.gather(*(one(p) for p in payloads)))

    async def _call(self, client: Any, payload: dict[str, Any]) -> str | None:
        import openai
        from openai.types.chat import ChatCompletion

        sent = None
        if self.limiter.active:
            sent = await self.limiter.acquire(estimate_tokens(payload["messages"], payload["max_tokens"]))
        self.stats.calls += 1
        try:
            # The client's own request machinery (retries, Retry-After, timeouts, pooling) without re-validating
            # the body we built: `chat.completions.create` transforms every message dict first (~1 ms a call).
            body = {"model": self.cfg.model, **payload}
            response = await client.post("/chat/completions", body=body, cast_to=ChatCompletion)
            usage = response.usage
            used_in, used_out = (usage.prompt_tokens or 0, usage.completion_tokens or 0) if usage else (0, 0)
            self.stats.add_usage(used_in, used_out, response.model)
            if sent is not None and usage:
                self.limiter.correct(sent, used_in + used_out)
            return response.choices[0].message.content or ""
        except (openai.APIError, IndexError, AttributeError) as exc:
            # After the client's own retries: this item gets no reply; the caller counts it as a failure.
            self.stats.failures += 1
            self.stats.last_error = _describe(exc)
            log.warning("call to %s (model %s) failed: %s", self.cfg.base_url, self.cfg.model, self.stats.last_error)
            return None


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    return f"{name} (HTTP {status})" if status else name
