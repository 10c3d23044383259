"""Sliding-window quotas against a clock we move: how long a call waits for an endpoint's request and token
quotas (at most N requests and T tokens in any 60 s, as a quota is stated)."""

from __future__ import annotations

import asyncio

import pytest

from knowrl.transport import rate_limit
from knowrl.transport.rate_limit import RateLimiter, estimate_tokens


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """time.monotonic() as the test sets it; asyncio.sleep advances it instead of waiting."""
    now = [1000.0]
    monkeypatch.setattr(rate_limit.time, "monotonic", lambda: now[0])

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    monkeypatch.setattr(rate_limit.asyncio, "sleep", sleep)
    return now


def _send(limiter: RateLimiter, tokens: int = 0) -> rate_limit.Sent:
    return asyncio.run(limiter.acquire(tokens))


def test_requests_per_minute_is_a_sliding_window(clock: list[float]) -> None:
    limiter = RateLimiter(requests_per_minute=3, tokens_per_minute=None)
    for offset in (0.0, 10.0, 20.0):
        clock[0] = 1000.0 + offset
        _send(limiter)
    _send(limiter)  # the fourth waits until the first (t=1000) leaves the window: t=1060
    assert clock[0] == pytest.approx(1060.0)
    _send(limiter)  # the fifth until the second (t=1010) leaves: t=1070, never 4 in any 60 s
    assert clock[0] == pytest.approx(1070.0) and limiter.waited_s == pytest.approx(50.0)


def test_tokens_per_minute_counts_what_the_reply_used(clock: list[float]) -> None:
    limiter = RateLimiter(requests_per_minute=None, tokens_per_minute=1000)
    first = _send(limiter, 600)
    _send(limiter, 300)
    limiter.correct(first, 100)  # the reply used 100 of the 600 estimated
    _send(limiter, 500)  # 100 + 300 + 500 fit: no wait
    assert clock[0] == 1000.0
    _send(limiter, 200)  # 1100 would be over: waits for the first to leave
    assert clock[0] == pytest.approx(1060.0)


def test_a_request_larger_than_the_quota_goes_alone(clock: list[float]) -> None:
    limiter = RateLimiter(requests_per_minute=None, tokens_per_minute=100)
    _send(limiter, 50)
    _send(limiter, 5000)  # cannot ever fit: waits for an empty window, then goes
    assert clock[0] == pytest.approx(1060.0)


def test_the_estimate_counts_the_prompt_and_the_reply_limit() -> None:
    assert estimate_tokens([{"role": "user", "content": "x" * 400}], max_tokens=16) == 116
