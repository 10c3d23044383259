"""An OpenAI-compatible chat client: batched, concurrent (bounded), retried with backoff, cached.

Works with any server that speaks `/v1/chat/completions` (vLLM, a hosted API). The API key is read
from the environment variable named in the config at call time and never logged, cached or raised.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import random
import threading
from collections.abc import Coroutine
from typing import Any

import httpx

from knowrl.config.backends import EndpointConfig
from knowrl.judges.base import CallStats
from storage.llm_cache import LLMCache

log = logging.getLogger("knowrl.judges")
RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


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


def cache_key(backend: str, model: str, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
    payload = json.dumps({"backend": backend, "model": model, "messages": messages, "params": params}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


class ChatClient:
    backend = "openai"

    def __init__(self, cfg: EndpointConfig, cache: LLMCache | None = None, stats: CallStats | None = None) -> None:
        self.cfg = cfg
        self.cache = cache
        self.stats = stats or CallStats()
        self.params = {"temperature": 0.0, "max_tokens": 512}

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.cfg.api_key_env)
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def complete_many(self, conversations: list[list[dict[str, str]]]) -> list[str | None]:
        """Replies in order; None where the endpoint still failed after retries. Cached replies cost no call."""
        keys = [cache_key(self.backend, self.cfg.model, c, self.params) for c in conversations]
        cached = self.cache.get_many(sorted(set(keys))) if self.cache else {}
        replies: list[str | None] = [cached.get(k) for k in keys]
        self.stats.cache_hits += sum(r is not None for r in replies)
        todo: dict[str, list[dict[str, str]]] = {}
        for key, conversation, reply in zip(keys, conversations, replies, strict=True):
            if reply is None:
                todo.setdefault(key, conversation)  # identical prompts in one batch cost one call
        if todo:
            fresh = run_sync(self._call_all(todo))
            if self.cache:
                self.cache.put_many(self.backend, self.cfg.model, {k: v for k, v in fresh.items() if v is not None})
            replies = [r if r is not None else fresh.get(k) for k, r in zip(keys, replies, strict=True)]
        return replies

    async def _call_all(self, todo: dict[str, list[dict[str, str]]]) -> dict[str, str | None]:
        semaphore = asyncio.Semaphore(self.cfg.concurrency)
        limits = httpx.Limits(max_connections=self.cfg.concurrency, max_keepalive_connections=self.cfg.concurrency)
        async with httpx.AsyncClient(timeout=self.cfg.timeout_s, limits=limits, headers=self._headers()) as client:

            async def one(key: str, messages: list[dict[str, str]]) -> tuple[str, str | None]:
                async with semaphore:
                    return key, await self._call_with_retries(client, messages)

            results = await asyncio.gather(*(one(k, m) for k, m in todo.items()))
        return dict(results)

    async def _call_with_retries(self, client: httpx.AsyncClient, messages: list[dict[str, str]]) -> str | None:
        url = self.cfg.base_url.rstrip("/") + "/chat/completions"
        body = {"model": self.cfg.model, "messages": messages, **self.params}
        last_error = ""
        for attempt in range(self.cfg.max_retries + 1):
            if attempt:
                self.stats.retries += 1
                delay = self.cfg.backoff_s * (2 ** (attempt - 1))
                await asyncio.sleep(delay * (0.5 + random.random()))
            try:
                self.stats.calls += 1
                response = await client.post(url, json=body)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last_error = type(exc).__name__
                continue
            if response.status_code in RETRYABLE_STATUS:
                last_error = f"HTTP {response.status_code}"
                continue
            if response.status_code >= 400:
                last_error = f"HTTP {response.status_code}"
                break  # a 400/401/404 will not improve with retries
            try:
                return response.json()["choices"][0]["message"]["content"] or ""
            except (ValueError, KeyError, IndexError, TypeError):
                last_error = "malformed response"
                continue
        self.stats.failures += 1
        log.warning("call to %s (model %s) failed: %s", self.cfg.base_url, self.cfg.model, last_error)
        return None
