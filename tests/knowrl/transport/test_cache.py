"""The warehouse cache in front of every backend: replies reported as they are known, and the background writer
that commits a GRPO step's replies after the step (visible in memory until then, its failures raised)."""

from __future__ import annotations

import logging

import pytest

from knowrl.transport.cache import cached_many, deferred_writes, flush_writes, payload_key, writes_flushed
from knowrl.transport.stats import CallStats
from storage.llm_cache import LLMCache


def _keys(payloads: list[str]) -> list[str]:
    return [payload_key("b", "m", p) for p in payloads]


def test_on_reply_reports_cached_and_computed_replies_once_per_position(ctx) -> None:
    cache = LLMCache(ctx.warehouse)
    cache.put_many("b", "m", {payload_key("b", "m", "cached"): "from cache"})
    seen: list[tuple[int, str | None]] = []
    computed: list[list[str]] = []

    def compute(todo: list[str], report) -> list[str | None]:
        computed.append(todo)
        report(1, todo[1].upper())  # reported early; the other is reported when compute returns
        return [todo[0].upper(), todo[1].upper()]

    payloads = ["x", "cached", "y", "x"]
    replies = cached_many(cache, "b", "m", payloads, compute, CallStats(), on_reply=lambda i, r: seen.append((i, r)))
    assert replies == ["X", "from cache", "Y", "X"]
    assert computed == [["x", "y"]]  # the duplicate and the cached payload cost nothing
    assert seen[0] == (1, "from cache")  # known before anything is computed
    assert seen[1] == (2, "Y")  # reported by compute, before it returned
    assert sorted(seen) == [(0, "X"), (1, "from cache"), (2, "Y"), (3, "X")]


def test_background_writes_are_read_from_memory_then_from_the_warehouse(ctx) -> None:
    cache = LLMCache(ctx.warehouse)
    with deferred_writes([cache], in_background=True):
        cached_many(cache, "b", "m", ["p", "q"], lambda todo: [t + "!" for t in todo], CallStats())
    calls: list[list[str]] = []
    again = cached_many(cache, "b", "m", ["p", "q"], lambda todo: calls.append(todo) or todo, CallStats())
    assert again == ["p!", "q!"] and calls == []  # committed or not yet, never asked again
    flush_writes()
    assert cache.get_many(_keys(["p", "q"])) == dict(zip(_keys(["p", "q"]), ["p!", "q!"], strict=True))


def test_a_failed_background_write_is_raised_not_dropped(ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = LLMCache(ctx.warehouse)

    def broken(*args, **kwargs) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(LLMCache, "put_many", broken)
    with deferred_writes([cache], in_background=True):
        cached_many(cache, "b", "m", ["p"], lambda todo: ["r"], CallStats())
    with pytest.raises(OSError, match="No space left"):
        flush_writes()
    flush_writes()  # raised once: the error is the caller's now
    with deferred_writes([cache], in_background=True):
        cached_many(cache, "b", "m", ["q"], lambda todo: ["r"], CallStats())
    with pytest.raises(OSError, match="No space left"), deferred_writes([cache], in_background=True):
        pass  # the next step raises what the last one's write failed with


def test_writes_flushed_keeps_the_blocks_own_error(ctx, monkeypatch, caplog: pytest.LogCaptureFixture) -> None:
    cache = LLMCache(ctx.warehouse)
    monkeypatch.setattr(LLMCache, "put_many", lambda *a, **k: (_ for _ in ()).throw(OSError("disk gone")))
    failing = pytest.raises(ValueError, match="training failed")
    with caplog.at_level(logging.ERROR, "knowrl.transport"), failing, writes_flushed():
        with deferred_writes([cache], in_background=True):
            cached_many(cache, "b", "m", ["p"], lambda todo: ["r"], CallStats())
        raise ValueError("training failed")
    assert "cached replies were not written: disk gone" in caplog.text
    with pytest.raises(OSError, match="disk gone"), writes_flushed(), deferred_writes([cache], in_background=True):
        cached_many(cache, "b", "m", ["q"], lambda todo: ["r"], CallStats())
