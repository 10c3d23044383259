"""An OpenAI-compatible chat client for judges: the `openai` package's AsyncOpenAI (retries with exponential
backoff that honour Retry-After, timeouts, connection pooling), a semaphore bounding concurrency, and the
warehouse cache in front (`cached_many`).

Works with any server that speaks `/v1/chat/completions` (vLLM, a hosted API). The API key is read from the
environment variable the config names, at call time; it is never logged, cached or put in an error message.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Coroutine
from typing import Any

from knowrl.config.backends import EndpointConfig
from knowrl.errors import ConfigError
from knowrl.judges.base import CallStats
from knowrl.judges.cached import cached_many
from storage.llm_cache import LLMCache

log = logging.getLogger("knowrl.judges")
HOSTED_APIS = ("api.openai.com",)


class JudgeConfigError(ConfigError):
    """A judge endpoint cannot be used as configured (e.g. a hosted API without its key)."""


def run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine from sync code, also when the caller already runs an event loop (e.g. a flow)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread below
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


class ChatClient:
    backend = "openai"

    def __init__(
        self, cfg: EndpointConfig, cache: LLMCache | None = None, max_tokens: int = 512, stats: CallStats | None = None
    ) -> None:
        self.cfg = cfg
        self.cache = cache
        self.stats = stats or CallStats()
        self.params = {"temperature": 0.0, "max_tokens": max_tokens}
        if not os.environ.get(cfg.api_key_env) and any(host in cfg.base_url for host in HOSTED_APIS):
            raise JudgeConfigError(
                f"endpoint {cfg.base_url} needs an API key: set the environment variable {cfg.api_key_env} "
                "(or point base_url at your own OpenAI-compatible server)"
            )

    def complete_many(self, conversations: list[list[dict[str, str]]]) -> list[str | None]:
        """Replies in order; None where the endpoint still failed after retries. Cached replies cost no call."""
        payloads = [{"messages": c, **self.params} for c in conversations]
        return cached_many(
            self.cache, self.backend, self.cfg.model, payloads, lambda todo: run_sync(self._call_all(todo)), self.stats
        )

    async def _call_all(self, payloads: list[dict[str, Any]]) -> list[str | None]:
        from openai import AsyncOpenAI

        semaphore = asyncio.Semaphore(self.cfg.concurrency)
        # Servers we run ourselves (vLLM) take any key; the client library insists on one.
        client = AsyncOpenAI(
            api_key=os.environ.get(self.cfg.api_key_env) or "unused",
            base_url=self.cfg.base_url,
            timeout=self.cfg.timeout_s,
            max_retries=self.cfg.max_retries,
        )

        async def one(payload: dict[str, Any]) -> str | None:
            async with semaphore:
                return await self._call(client, payload)

        async with client:
            return list(await asyncio.gather(*(one(p) for p in payloads)))

    async def _call(self, client: Any, payload: dict[str, Any]) -> str | None:
        import openai
        from openai.types.chat import ChatCompletion

        self.stats.calls += 1
        try:
            # The client's own request machinery (retries, Retry-After, timeouts, pooling) without re-validating
            # the body we built: `chat.completions.create` transforms every message dict first (~1 ms a call).
            body = {"model": self.cfg.model, **payload}
            response = await client.post("/chat/completions", body=body, cast_to=ChatCompletion)
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
