"""Request and token rate limits of an endpoint: a hosted API answers HTTP 429 past its requests- or tokens-per-minute
quota, and a run that hits 429s at concurrency 32 wastes its retries. One limiter per endpoint (URL, model, key
variable) per process, shared by every client of it (the judge and the extractor often share one), so their calls
together stay under the quota.

A quota is held as it is stated: at most N requests, and at most T tokens, in any 60 seconds (a sliding window of
what was sent, not a token bucket: a bucket that starts full lets N through at once and then one more every 60/N s,
which is N + 1 in the first minute). A request is counted with its estimated tokens (prompt characters / 4 +
max_tokens, as hosted APIs count them before a reply exists) when it is sent, and corrected to the usage its reply
reports.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass, field

CHARS_PER_TOKEN = 4  # a rough estimate for English text; the reply's usage corrects it
WINDOW_S = 60.0


@dataclass
class Sent:
    at: float
    tokens: int


@dataclass
class RateLimiter:
    """Requests and tokens per minute; either may be None (no limit)."""

    requests_per_minute: float | None
    tokens_per_minute: float | None
    waited_s: float = 0.0  # total time calls waited for the quota
    _sent: deque[Sent] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def active(self) -> bool:
        return bool(self.requests_per_minute or self.tokens_per_minute)

    def _wait(self, now: float, tokens: int) -> float:
        """Seconds until one more request of `tokens` fits both quotas (0 when it does now)."""
        while self._sent and now - self._sent[0].at >= WINDOW_S:
            self._sent.popleft()
        wait = 0.0
        if self.requests_per_minute and len(self._sent) >= self.requests_per_minute:
            # The oldest requests must leave the window until one slot is free.
            excess = len(self._sent) - int(self.requests_per_minute) + 1
            wait = max(wait, self._sent[excess - 1].at + WINDOW_S - now)
        if self.tokens_per_minute:
            # A request larger than the whole quota goes alone, once the window is empty.
            budget = max(0.0, self.tokens_per_minute - min(tokens, self.tokens_per_minute))
            used = sum(s.tokens for s in self._sent)
            for sent in self._sent:
                if used <= budget:
                    break
                used -= sent.tokens
                wait = max(wait, sent.at + WINDOW_S - now)
        return wait

    async def acquire(self, estimated_tokens: int) -> Sent:
        """Wait until one request and `estimated_tokens` tokens fit the quotas, then count them as sent."""
        while True:
            with self._lock:
                now = time.monotonic()
                wait = self._wait(now, estimated_tokens)
                if wait <= 0.0:
                    sent = Sent(now, estimated_tokens)
                    self._sent.append(sent)
                    return sent
                self.waited_s += wait
            await asyncio.sleep(wait)

    def correct(self, sent: Sent, used_tokens: int) -> None:
        """Count what the reply says the request used instead of the estimate."""
        with self._lock:
            sent.tokens = used_tokens


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
            with current._lock:
                if requests_per_minute and (
                    not current.requests_per_minute or requests_per_minute < current.requests_per_minute
                ):
                    current.requests_per_minute = requests_per_minute
                if tokens_per_minute and (
                    not current.tokens_per_minute or tokens_per_minute < current.tokens_per_minute
                ):
                    current.tokens_per_minute = tokens_per_minute
        return current


def estimate_tokens(messages: list[dict[str, str]], max_tokens: int) -> int:
    return sum(len(m.get("content", "")) for m in messages) // CHARS_PER_TOKEN + max_tokens
