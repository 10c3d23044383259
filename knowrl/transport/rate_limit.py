"""Request and token rate limits of an endpoint: a hosted API answers HTTP 429 past its requests- or tokens-per-minute
quota, and a run that hits 429s at concurrency 32 wastes its retries. One limiter per endpoint (URL, model, key
variable) per process, shared by every client of it (the judge and the extractor often share one), so their calls
together stay under the quota.

Token buckets: capacity = the per-minute limit, refilled continuously. A request takes one request token and its
estimated tokens (prompt characters / 4 + max_tokens) before it is sent; the estimate is corrected with the usage
the reply reports, so a quota is spent by what the endpoint counted.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

CHARS_PER_TOKEN = 4  # a rough estimate for English text; the reply's usage corrects it


@dataclass
class Bucket:
    per_minute: float
    level: float = field(init=False)
    at: float = field(default_factory=lambda: time.monotonic())  # read when made (tests move the clock)

    def __post_init__(self) -> None:
        self.level = self.per_minute

    def refill(self, now: float) -> None:
        self.level = min(self.per_minute, self.level + (now - self.at) * self.per_minute / 60.0)
        self.at = now

    def wait_for(self, amount: float, now: float) -> float:
        """Seconds until `amount` is available (0 when it is now); an amount over the capacity waits for a full
        bucket (a single request larger than the quota still goes, alone)."""
        self.refill(now)
        needed = min(amount, self.per_minute) - self.level
        return 0.0 if needed <= 0 else needed * 60.0 / self.per_minute


class RateLimiter:
    """Requests and tokens per minute; either may be None (no limit)."""

    def __init__(self, requests_per_minute: float | None, tokens_per_minute: float | None) -> None:
        self.requests = Bucket(requests_per_minute) if requests_per_minute else None
        self.tokens = Bucket(tokens_per_minute) if tokens_per_minute else None
        self._lock = threading.Lock()
        self.waited_s = 0.0  # total time calls waited for the quota (reported with the stage's usage)

    @property
    def active(self) -> bool:
        return self.requests is not None or self.tokens is not None

    async def acquire(self, estimated_tokens: int) -> None:
        """Wait until one request and `estimated_tokens` tokens fit the quota, then take them."""
        while True:
            with self._lock:
                now = time.monotonic()
                wait = max(
                    self.requests.wait_for(1, now) if self.requests else 0.0,
                    self.tokens.wait_for(estimated_tokens, now) if self.tokens else 0.0,
                )
                if wait == 0.0:
                    if self.requests:
                        self.requests.level -= 1
                    if self.tokens:
                        self.tokens.level -= estimated_tokens
                    return
                self.waited_s += wait
            await asyncio.sleep(wait)

    def correct(self, estimated_tokens: int, used_tokens: int) -> None:
        """Give back (or take) the difference between the estimate and what the reply says it used."""
        if self.tokens is not None:
            with self._lock:
                self.tokens.level = min(self.tokens.per_minute, self.tokens.level + estimated_tokens - used_tokens)


_LIMITERS: dict[tuple[str, str, str], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter_for(
    base_url: str, model: str, key_env: str, requests_per_minute: float | None, tokens_per_minute: float | None
) -> RateLimiter:
    """The process's limiter of an endpoint (the tightest limits any of its clients asked for)."""
    key = (base_url, model, key_env)
    with _LIMITERS_LOCK:
        current = _LIMITERS.get(key)
        if current is None:
            current = _LIMITERS[key] = RateLimiter(requests_per_minute, tokens_per_minute)
        else:  # a second client of the same endpoint: the stricter quota wins
            for name, limit in (("requests", requests_per_minute), ("tokens", tokens_per_minute)):
                bucket = getattr(current, name)
                if limit and (bucket is None or limit < bucket.per_minute):
                    setattr(current, name, Bucket(limit))
        return current


def estimate_tokens(messages: list[dict[str, str]], max_tokens: int) -> int:
    return sum(len(m.get("content", "")) for m in messages) // CHARS_PER_TOKEN + max_tokens
