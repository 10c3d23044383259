"""Token buckets against a clock we move: how long a call waits for an endpoint's request and token quotas."""

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


def test_requests_per_minute(clock: list[float]) -> None:
    limiter = RateLimiter(requests_per_minute=60, tokens_per_minute=None)
    for _ in range(60):  # a full bucket: no wait
        asyncio.run(limiter.acquire(0))
    assert clock[0] == 1000.0
    asyncio.run(limiter.acquire(0))  # the 61st waits for one request's refill: 1 s at 60 a minute
    assert clock[0] == pytest.approx(1001.0) and limiter.waited_s == pytest.approx(1.0)


def test_tokens_per_minute_with_the_reply_s_usage(clock: list[float]) -> None:
    limiter = RateLimiter(requests_per_minute=None, tokens_per_minute=600)  # 10 tokens a second
    asyncio.run(limiter.acquire(500))
    asyncio.run(limiter.acquire(500))  # 100 left: waits for 400 more, 40 s
    assert clock[0] == pytest.approx(1040.0)
    limiter.correct(500, 50)  # the reply used 50: 450 come back
    asyncio.run(limiter.acquire(400))
    assert clock[0] == pytest.approx(1040.0)  # no wait


def test_a_request_larger_than_the_quota_waits_for_a_full_bucket_then_goes(clock: list[float]) -> None:
    limiter = RateLimiter(requests_per_minute=None, tokens_per_minute=100)
    asyncio.run(limiter.acquire(50))
    asyncio.run(limiter.acquire(5000))  # cannot ever fit: waits until the bucket is full again, then goes alone
    assert clock[0] == pytest.approx(1030.0)


def test_the_estimate_counts_the_prompt_and_the_reply_limit() -> None:
    assert estimate_tokens([{"role": "user", "content": "x" * 400}], max_tokens=16) == 116
