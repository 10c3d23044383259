"""An OpenAI-compatible chat transport: `POST /chat/completions` over one kept-alive aiohttp session per client,
retried as the `openai` package retries (below), a semaphore bounding concurrency, the endpoint's request and token
rate limits (rate_limit.py), and the warehouse cache in front (`cached_many`). Every reply's usage (prompt and
completion tokens) and the model the endpoint says answered are counted in `stats`.

Calls run on the process's background event loop (`event_loop.py`), and each ChatClient keeps one session there
for its lifetime: connections stay alive from one GRPO step to the next instead of being opened (and, for a hosted
API, TLS-negotiated) again every batch. A GRPO step makes hundreds of calls at once, so the per-call cost counts:
the request is the JSON body and two headers, the reply is read with `json.loads`. Through the `openai` package's
AsyncOpenAI (its request options, header merging, URL handling, an httpx-style request over its aiohttp transport,
a typed reply) the same call cost 0.67 ms of CPU, 0.12 ms here (261 calls, two clients of 32 in flight against the
scripted endpoint: 32 ms of the process's CPU). aiohttp's `trust_env` is not used: it reads the proxy settings and
~/.netrc again, in a worker thread, for every request (a call cost 0.4 ms with it); the session looks them up once.

Retries follow the `openai` client's rules: a connection error, a timeout, HTTP 408, 409, 429 or 5xx is retried up
to `max_retries` times (a server's `x-should-retry: true|false` wins), waiting what `Retry-After-Ms` or `Retry-After`
(seconds or an HTTP date) asks when that is in (0, 120] s, else 0.5 s x 2^retry capped at 8 s, less up to 25 %
jitter; a `Retry-After` over 120 s is not retried. A call that still fails is reported with the `openai` exception's
name (`RateLimitError (HTTP 429)`, `APITimeoutError`, ...). Timeouts are per phase as httpx's: `timeout_s` to
connect and between bytes read. Proxies come from the environment (HTTP(S)_PROXY, NO_PROXY) when a session is made.

Works with any server that speaks `/v1/chat/completions` (vLLM, a hosted API). The API key is read from the
environment variable the config names, at call time; it is never logged, cached or put in an error message.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import os
import random
import time
from collections.abc import Callable
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
# The openai client's retry constants (openai/_constants.py).
INITIAL_RETRY_DELAY_S, MAX_RETRY_DELAY_S, MAX_RETRY_AFTER_S = 0.5, 8.0, 120.0
# The openai exception a failed status is reported as (openai/_client.py, `_make_status_error`).
STATUS_ERRORS = {
    400: "BadRequestError",
    401: "AuthenticationError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    409: "ConflictError",
    422: "UnprocessableEntityError",
    429: "RateLimitError",
}


class CallFailed(Exception):
    """A call that failed after its retries; `str()` names the failure as the openai client's exception would."""


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
        self._async_client: tuple[asyncio.AbstractEventLoop, str, Session] | None = None  # (loop, key, session)
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

    def complete_many(
        self, conversations: list[list[dict[str, str]]], on_reply: Callable[[int, str | None], None] | None = None
    ) -> list[str | None]:
        """Replies in order; None where the endpoint still failed after retries. Cached replies cost no call.
        `on_reply(index, reply)` is called as each reply arrives (on the endpoint loop's thread: keep it short)."""
        payloads = [{"messages": c, **self.params} for c in conversations]
        return cached_many(
            self.cache,
            self.backend,
            self.cfg.model,
            payloads,
            lambda todo, report=None: background_loop().run(self._call_all(todo, report)),
            self.stats,
            on_reply=on_reply,
        )

    def _client(self) -> Session:
        """This client's session on the running (background) loop, made on first use, and again when the key in
        the environment changed or the process forked (a loop and its connections are per process)."""
        # Servers we run ourselves (vLLM) take any key; a hosted API's is checked at construction.
        key = os.environ.get(self.cfg.api_key_env) or "unused"
        loop = asyncio.get_running_loop()
        cached = self._async_client
        if cached is not None and cached[0] is loop and cached[1] == key:
            return cached[2]
        runner = background_loop()
        if cached is not None and cached[0] is loop:
            runner.release(cached[2])  # the old key's connections
        client = Session(self.cfg, key)
        runner.adopt(self, client)
        self._async_client = (loop, key, client)
        return client

    async def _call_all(
        self, payloads: list[dict[str, Any]], report: Callable[[int, str | None], None] | None = None
    ) -> list[str | None]:
        semaphore = asyncio.Semaphore(self.cfg.concurrency)
        client = self._client()

        async def one(index: int, payload: dict[str, Any]) -> str | None:
            async with semaphore:
                reply = await self._call(client, payload)
            if report is not None:
                report(index, reply)
            return reply

        return list(await asyncio.gather(*(one(i, p) for i, p in enumerate(payloads))))

    async def _call(self, client: Session, payload: dict[str, Any]) -> str | None:
        sent = None
        if self.limiter.active:
            sent = await self.limiter.acquire(estimate_tokens(payload["messages"], payload["max_tokens"]))
        self.stats.calls += 1
        try:
            reply = await client.chat(json.dumps({"model": self.cfg.model, **payload}).encode())
            content = reply["choices"][0]["message"]["content"]
            usage = reply.get("usage") or {}
            used_in, used_out = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
            self.stats.add_usage(used_in, used_out, reply.get("model"))
            if sent is not None and usage:
                self.limiter.correct(sent, used_in + used_out)
            return content if isinstance(content, str) else ""
        except (CallFailed, LookupError, TypeError, ValueError, AttributeError) as exc:
            # After the retries: this item gets no reply; the caller counts it as a failure.
            self.stats.failures += 1
            failed = str(exc) if isinstance(exc, CallFailed) else f"invalid reply ({type(exc).__name__})"
            self.stats.last_error = failed
            log.warning("call to %s (model %s) failed: %s", self.cfg.base_url, self.cfg.model, self.stats.last_error)
            return None


class Session:
    """One aiohttp session to an endpoint (its connection pool), and the openai client's retry rules around each
    call. Closed with `close()` on the loop it was made on."""

    def __init__(self, cfg: EndpointConfig, key: str) -> None:
        import aiohttp
        from aiohttp.helpers import get_env_proxy_for_url
        from yarl import URL

        self.url = cfg.base_url.rstrip("/") + "/chat/completions"
        # The proxy from the environment (HTTP(S)_PROXY, NO_PROXY, a proxy's credentials in ~/.netrc), looked up
        # once per session as aiohttp's `trust_env` would: `trust_env` itself looks it (and ~/.netrc) up again for
        # every request in a worker thread, 0.3 ms of a call's 0.45 ms of client CPU (bench_rewards.py).
        try:
            self.proxy, self.proxy_auth = get_env_proxy_for_url(URL(self.url))
        except LookupError:  # no proxy for this URL
            self.proxy, self.proxy_auth = None, None
        self.max_retries = cfg.max_retries
        self._errors: tuple[type[BaseException], ...] = (aiohttp.ClientError, OSError)
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),  # the caller's semaphore bounds the calls in flight
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=cfg.timeout_s, sock_read=cfg.timeout_s),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )

    def is_closed(self) -> bool:
        return self.session.closed

    async def close(self) -> None:
        await self.session.close()

    async def chat(self, body: bytes) -> dict[str, Any]:
        """The endpoint's JSON reply to `body`; CallFailed when it still fails after the retries."""
        for retry in range(self.max_retries + 1):
            left = self.max_retries - retry
            try:
                async with self.session.post(
                    self.url, data=body, proxy=self.proxy, proxy_auth=self.proxy_auth
                ) as response:
                    data = await response.read()
                    if response.status < 400:
                        return json.loads(data)
                    headers = response.headers
                    status = response.status
            except TimeoutError:  # aiohttp's timeouts are TimeoutErrors
                if left > 0:
                    await asyncio.sleep(retry_delay_s(retry, None))
                    continue
                raise CallFailed("APITimeoutError") from None
            except self._errors as exc:
                if left > 0:
                    await asyncio.sleep(retry_delay_s(retry, None))
                    continue
                raise CallFailed("APIConnectionError") from exc
            if left > 0 and should_retry(status, headers):
                await asyncio.sleep(retry_delay_s(retry, headers))
                continue
            name = STATUS_ERRORS.get(status, "InternalServerError" if status >= 500 else "APIStatusError")
            raise CallFailed(f"{name} (HTTP {status})")
        raise AssertionError("unreachable")


def retry_after_s(headers: Any) -> float | None:
    """Seconds a reply asks to wait: Retry-After-Ms, else Retry-After in seconds or as an HTTP date (openai's
    `_parse_retry_after_header`)."""
    if headers is None:
        return None
    for name, divisor in (("retry-after-ms", 1000), ("retry-after", 1)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            delay = float(value)
        except ValueError:
            continue
        if delay == math.inf and value.strip().lower() not in ("inf", "+inf", "infinity", "+infinity"):
            return MAX_RETRY_AFTER_S + 1
        return delay / divisor
    try:
        parsed = email.utils.parsedate_tz(headers.get("retry-after"))
        return None if parsed is None else float(email.utils.mktime_tz(parsed) - time.time())
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def should_retry(status: int, headers: Any) -> bool:
    """Whether a failed status is tried again (openai's `_should_retry`)."""
    after = retry_after_s(headers)
    if after is not None and math.isfinite(after) and after > MAX_RETRY_AFTER_S:
        return False
    explicit = headers.get("x-should-retry")
    if explicit in ("true", "false"):
        return explicit == "true"
    return status in (408, 409, 429) or status >= 500


def retry_delay_s(retries_taken: int, headers: Any) -> float:
    """The wait before the next try (openai's `_calculate_retry_timeout`): what the server asked for when that is in
    (0, 120] s, else exponential backoff with up to 25 % jitter."""
    after = retry_after_s(headers)
    if after is not None and math.isfinite(after) and 0 < after <= MAX_RETRY_AFTER_S:
        return after
    backoff = min(INITIAL_RETRY_DELAY_S * 2.0 ** min(retries_taken, 1000), MAX_RETRY_DELAY_S)
    return max(0.0, backoff * (1 - 0.25 * random.random()))
