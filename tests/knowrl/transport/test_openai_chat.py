"""The OpenAI-compatible client against a real local server: retries, Retry-After, the None path, cache,
concurrency. Nothing here depends on a quiet machine: timing assertions are lower bounds only (a busy machine makes
things slower, never faster), a hung request hangs until the server stops, and concurrency is shown by a barrier
that only opens when the requests are in flight together."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from knowrl.config.backends import EndpointConfig, JudgeConfig
from knowrl.judges import build_judge
from knowrl.judges.base import Grade, JudgeItem
from knowrl.transport.openai_chat import ChatClient, EndpointConfigError
from storage.llm_cache import LLMCache
from tests.support.openai_server import Script, ScriptedOpenAIServer, knowrl_responder

SECRET = "sk-test-never-log-this-4242"


def _cfg(server: ScriptedOpenAIServer, **kw) -> EndpointConfig:
    values = {
        "base_url": server.base_url,
        "model": "judge-model",
        "api_key_env": "KNOWRL_TEST_KEY",
        "max_retries": 3,
        "timeout_s": 5.0,
        "concurrency": 4,
    }
    values.update(kw)
    return EndpointConfig(**values)


def _convs(n: int) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": f"question {i}"}] for i in range(n)]


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KNOWRL_TEST_KEY", SECRET)


@pytest.mark.parametrize("status", [500, 429])
def test_retries_on_500_and_429_then_succeeds(status: int) -> None:
    with ScriptedOpenAIServer(Script(lambda m: "ok", fail_first=2, fail_status=status, retry_after_s=0)) as server:
        client = ChatClient(_cfg(server, concurrency=1))
        assert client.complete_many(_convs(1)) == ["ok"]
        assert server.stats.requests == 3 and client.stats.failures == 0
        assert server.stats.auth_headers[-1] == f"Bearer {SECRET}"


def test_retry_after_header_is_honoured() -> None:
    with ScriptedOpenAIServer(Script(lambda m: "ok", fail_first=1, fail_status=429, retry_after_s=2)) as server:
        client = ChatClient(_cfg(server, concurrency=1))
        started = time.monotonic()
        assert client.complete_many(_convs(1)) == ["ok"]
        assert time.monotonic() - started >= 1.9  # waited as the server asked, not the default 0.5 s
        assert server.stats.requests == 2


def test_timeouts_are_retried() -> None:
    # The first request hangs until the server stops, so it times out whatever the machine's load; the retry is
    # answered at once, and 3 s leave a busy machine ample time for that.
    with ScriptedOpenAIServer(Script(lambda m: "ok", hang_first=1, hang_s=None)) as server:
        client = ChatClient(_cfg(server, timeout_s=3.0, concurrency=1))
        assert client.complete_many(_convs(1)) == ["ok"]
        assert server.stats.requests >= 2 and client.stats.failures == 0


def test_endpoint_down_yields_none_and_counts_failure(caplog: pytest.LogCaptureFixture, ctx) -> None:
    cache = LLMCache(ctx.warehouse)
    with ScriptedOpenAIServer(Script(lambda m: "ok", always_fail=True, retry_after_s=0)) as server:
        judge = build_judge(JudgeConfig(backend="openai", endpoint=_cfg(server, max_retries=2)), cache)
        with caplog.at_level(logging.WARNING):
            grades = judge.grade_many([JudgeItem("q?", ("a",), "a"), JudgeItem("q2?", ("b",), "c")])
    assert grades == [None, None] and judge.stats.failures == 2
    assert judge.stats.last_error == "InternalServerError (HTTP 500)"
    assert cache.count() == 0  # failures are not cached: the next call tries again
    assert SECRET not in caplog.text and "failed" in caplog.text


def test_non_retryable_status_fails_fast() -> None:
    with ScriptedOpenAIServer(Script(lambda m: "ok", always_fail=True, fail_status=401)) as server:
        client = ChatClient(_cfg(server, max_retries=5))
        assert client.complete_many(_convs(1)) == [None]
        assert server.stats.requests == 1 and client.stats.last_error == "AuthenticationError (HTTP 401)"


def test_hosted_api_without_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KNOWRL_TEST_KEY")
    with pytest.raises(EndpointConfigError, match="set the environment variable KNOWRL_TEST_KEY"):
        ChatClient(EndpointConfig(api_key_env="KNOWRL_TEST_KEY"))


def test_second_call_hits_the_warehouse_cache(ctx) -> None:
    cache = LLMCache(ctx.warehouse)
    with ScriptedOpenAIServer(Script(knowrl_responder)) as server:
        judge = build_judge(JudgeConfig(backend="openai", endpoint=_cfg(server)), cache)
        items = [
            JudgeItem("Who wrote Hamlet?", ("Shakespeare",), "William Shakespeare"),
            JudgeItem("Who wrote Hamlet?", ("Shakespeare",), "I don't know."),
            JudgeItem("Who wrote Hamlet?", ("Shakespeare",), "Marlowe"),
        ]
        assert judge.grade_many(items) == [Grade.CORRECT, Grade.NOT_ATTEMPTED, Grade.INCORRECT]
        calls = server.stats.requests
        fresh = build_judge(JudgeConfig(backend="openai", endpoint=_cfg(server)), cache)
        assert fresh.grade_many(items) == [Grade.CORRECT, Grade.NOT_ATTEMPTED, Grade.INCORRECT]
        assert server.stats.requests == calls and fresh.stats.cache_hits == 3
    with ctx.warehouse.connect() as con:
        rows = con.execute("SELECT * FROM llm_cache").fetchall()
    assert len(rows) == 3 and SECRET not in repr(rows)


def test_concurrency_bound_is_respected_and_duplicates_cost_one_call() -> None:
    # Each request is held until three are in flight at once: the client must overlap requests up to its bound
    # (else the barrier breaks and the calls fail), and the peak shows it never goes beyond. No sleep, no timing.
    with ScriptedOpenAIServer(Script(lambda m: "ok", together=3)) as server:
        client = ChatClient(_cfg(server, concurrency=3, timeout_s=60.0, max_retries=0))
        conversations = _convs(12) + _convs(12)
        assert client.complete_many(conversations) == ["ok"] * 24
        assert server.stats.requests == 12  # each distinct conversation once
        assert server.stats.peak_in_flight == 3


def test_usage_and_the_reported_model_are_counted() -> None:
    with ScriptedOpenAIServer(Script(knowrl_responder, reported_model="judge-model-2024-07-18")) as server:
        client = ChatClient(_cfg(server))
        client.complete_many(_convs(3))
        assert client.stats.prompt_tokens == 6 and client.stats.completion_tokens == 3  # "question i"; "A"
        assert client.stats.reported_models == {"judge-model-2024-07-18"}
        assert client.describe() == f"judge-model at {server.base_url}"


def test_a_request_quota_holds_the_calls_back_instead_of_drawing_a_429() -> None:
    """An endpoint that answers HTTP 429 past 5 requests in any 60 s, and a client told its quota: the sixth request
    waits for the first to leave the window (60 s here is too long for a test: the window is shortened)."""
    import knowrl.transport.rate_limit as rate_limit

    window, rate_limit.WINDOW_S = rate_limit.WINDOW_S, 2.0
    try:
        with ScriptedOpenAIServer(Script(knowrl_responder)) as server:
            client = ChatClient(_cfg(server, model="paced-model", concurrency=8, requests_per_minute=5))
            started = time.monotonic()
            replies = client.complete_many(_convs(7))
            assert all(r == "A" for r in replies) and server.stats.requests == 7
            assert time.monotonic() - started >= 2.0  # the sixth and seventh waited for the window
            arrivals = sorted(server.stats.arrivals)
            assert all(b - a >= 2.0 - 0.05 for a, b in zip(arrivals, arrivals[5:], strict=False))  # <= 5 per window
    finally:
        rate_limit.WINDOW_S = window


def test_one_token_bucket_per_endpoint_in_a_process() -> None:
    """The judge and the extractor of one endpoint draw from one bucket, the stricter quota winning."""
    with ScriptedOpenAIServer(Script(knowrl_responder)) as server:
        judge = ChatClient(_cfg(server, model="shared-model", tokens_per_minute=1000), max_tokens=8)
        extractor = ChatClient(_cfg(server, model="shared-model", tokens_per_minute=600), max_tokens=8)
        other = ChatClient(_cfg(server, model="another-model", tokens_per_minute=600), max_tokens=8)
        assert judge.limiter is extractor.limiter and judge.limiter.tokens_per_minute == 600
        assert other.limiter is not judge.limiter


def test_replies_are_reported_as_they_arrive() -> None:
    # The slow request is answered only once the fast one's reply has been reported (or after 10 s): a client that
    # reports replies only when the whole batch is done makes it wait the 10 s and fails the assertion.
    reported = threading.Event()

    def responder(messages: list[dict[str, str]]) -> str:
        if "slow" in messages[-1]["content"]:
            return "in time" if reported.wait(10) else "too late"
        return "fast"

    seen: list[tuple[int, str | None]] = []

    def on_reply(index: int, reply: str | None) -> None:
        seen.append((index, reply))
        reported.set()

    with ScriptedOpenAIServer(Script(responder)) as server:
        client = ChatClient(_cfg(server, concurrency=2))
        conversations = [[{"role": "user", "content": "slow"}], [{"role": "user", "content": "fast"}]]
        assert client.complete_many(conversations, on_reply) == ["in time", "fast"]
    assert seen == [(1, "fast"), (0, "in time")]


def test_the_proxy_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The endpoint's host does not resolve: only a client that sends through HTTP_PROXY (the scripted server, which
    # answers any path) gets a reply; NO_PROXY naming the host makes it connect directly, and fail.
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    with ScriptedOpenAIServer(Script(knowrl_responder)) as server:
        monkeypatch.setenv("HTTP_PROXY", server.base_url.rsplit("/v1", 1)[0])
        cfg = _cfg(server, base_url="http://judge.invalid/v1", max_retries=0)
        assert ChatClient(cfg).complete_many(_convs(1)) != [None]
        assert server.stats.requests == 1
        monkeypatch.setenv("NO_PROXY", "judge.invalid")
        assert ChatClient(cfg).complete_many(_convs(1)) == [None]
        assert server.stats.requests == 1
