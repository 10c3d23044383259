"""Cache-then-compute for every backend: replies keyed by a hash of (backend, model, payload) in the warehouse.

Identical payloads in one batch are computed once; only what is missing from the cache is computed; a
result of None (a call that failed after retries) is returned but not cached, so a later batch retries it.

Every read and write of the warehouse opens its file (a short-lived connection, so other processes can take its
lock between two of ours) and a write commits a transaction: ~5-15 ms each, whatever the number of rows. A GRPO step
scores in several batches (the judge's, the extractor's, the verifier's waves), so `deferred_writes` keeps what they
compute in memory and writes it once when the step's scoring ends, one transaction per (backend, model); a batch in
the block also finds what an earlier batch of the block computed.

`deferred_writes(..., in_background=True)` (the GRPO reward scorer's) hands that one write to a writer thread, so
the step does not wait for the transaction (~15-30 ms; the training step goes on meanwhile). Until it commits,
readers in this process find the replies in memory; `flush_writes()` waits for it and raises its error, as the
next background block does when it begins: a failed cache write is never dropped silently. A process killed before the
commit loses at most that batch's replies, which a rerun asks for again (the cache saves calls, it holds no result).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from knowrl.hashing import stable_hash
from knowrl.transport.stats import CallStats
from storage.llm_cache import LLMCache

# id(cache) -> (backend, model) -> {key: reply}: replies computed inside a `deferred_writes` block, not written yet.
_PENDING: dict[int, dict[tuple[str, str], dict[str, str]]] = {}
_PENDING_LOCK = threading.Lock()
# id(cache) -> the groups handed to the background writer and not committed yet (readers see them).
_WRITING: dict[int, list[dict[tuple[str, str], dict[str, str]]]] = {}
log = logging.getLogger("knowrl.transport")


class _BackgroundWriter:
    """One thread per process that commits the groups `deferred_writes(in_background=True)` hands it, in order."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.queue: queue.Queue[tuple[LLMCache, dict[tuple[str, str], dict[str, str]]]] = queue.Queue()
        self.error: BaseException | None = None  # the first failed write since the last flush
        threading.Thread(target=self._run, name="knowrl-cache-writer", daemon=True).start()

    def submit(self, cache: LLMCache, groups: dict[tuple[str, str], dict[str, str]]) -> None:
        with _PENDING_LOCK:
            _WRITING.setdefault(id(cache), []).append(groups)
        self.queue.put((cache, groups))

    def _run(self) -> None:
        while True:
            cache, groups = self.queue.get()
            try:
                for (backend, model), entries in groups.items():
                    cache.put_many(backend, model, entries)
            except BaseException as exc:  # kept for the caller (flush_writes), which raises it
                log.warning("writing %d cached replies failed: %s", sum(map(len, groups.values())), exc)
                self.error = self.error or exc
            finally:
                with _PENDING_LOCK:
                    waiting = _WRITING.get(id(cache), [])
                    waiting[:] = [g for g in waiting if g is not groups]
                    if not waiting:
                        _WRITING.pop(id(cache), None)
                self.queue.task_done()

    def flush(self) -> None:
        self.queue.join()
        error, self.error = self.error, None
        if error is not None:
            raise error


_writer: _BackgroundWriter | None = None
_writer_lock = threading.Lock()


def _background_writer() -> _BackgroundWriter:
    global _writer
    with _writer_lock:
        if _writer is None or _writer.pid != os.getpid():  # after a fork the parent's thread is not ours
            _writer = _BackgroundWriter()
        return _writer


def _current_writer() -> _BackgroundWriter | None:
    with _writer_lock:
        return _writer if _writer is not None and _writer.pid == os.getpid() else None


def flush_writes() -> None:
    """Wait until every background cache write has committed; raise the first that failed since the last flush."""
    writer = _current_writer()
    if writer is not None:
        writer.flush()


@contextlib.contextmanager
def writes_flushed() -> Iterator[None]:
    """Flush the background writes when the block ends. When the block raised, its error goes on and a failed write
    is logged (not raised over it)."""
    try:
        yield
    except BaseException:
        try:
            flush_writes()
        except Exception as exc:
            log.error("cached replies were not written: %s", exc)
        raise
    flush_writes()


@atexit.register
def _flush_at_exit() -> None:
    try:
        flush_writes()
    except Exception as exc:  # at exit there is no caller left to raise to: say it
        log.error("cached replies were not written at exit: %s", exc)


def payload_key(backend: str, model: str, payload: Any) -> str:
    return stable_hash([backend, model, payload], None)


@contextlib.contextmanager
def deferred_writes(caches: Iterable[LLMCache | None], *, in_background: bool = False) -> Iterator[None]:
    """Inside the block, what `cached_many` computes for these caches is written when the block ends (also when it
    raises: the replies are good), by the background writer when `in_background` (the block first waits for the
    earlier background writes and raises what one failed with). A block inside another one for the same cache
    leaves the writing to the outer."""
    unique = {id(cache): cache for cache in caches if cache is not None}
    if in_background:
        # The previous step's write has long committed when a training step lies between (this costs nothing
        # then); waiting for it otherwise keeps the queue from growing, and raises what it failed with.
        flush_writes()
    with _PENDING_LOCK:
        owned = [key for key in unique if key not in _PENDING]
        for key in owned:
            _PENDING[key] = {}
    try:
        yield
    finally:
        with _PENDING_LOCK:
            pending = {key: _PENDING.pop(key) for key in owned}
        for key, groups in pending.items():
            if in_background and groups:
                _background_writer().submit(unique[key], groups)
                continue
            for (backend, model), entries in groups.items():
                unique[key].put_many(backend, model, entries)


def _pending_of(cache: LLMCache, backend: str, model: str, keys: Iterable[str]) -> dict[str, str]:
    """Replies for `keys` computed in a `deferred_writes` block or handed to the background writer, not committed."""
    with _PENDING_LOCK:
        found: dict[str, str] = {}
        for groups in [_PENDING.get(id(cache)) or {}, *_WRITING.get(id(cache), [])]:
            entries = groups.get((backend, model))
            if entries:
                found.update({k: entries[k] for k in keys if k in entries})
        return found


def _store(cache: LLMCache, backend: str, model: str, entries: dict[str, str]) -> None:
    with _PENDING_LOCK:
        groups = _PENDING.get(id(cache))
        if groups is not None:
            groups.setdefault((backend, model), {}).update(entries)
            return
    cache.put_many(backend, model, entries)


def cached_many(
    cache: LLMCache | None,
    backend: str,
    model: str,
    payloads: list[Any],
    compute: Callable[..., list[str | None]],
    stats: CallStats,
    keys: list[str] | None = None,
    on_reply: Callable[[int, str | None], None] | None = None,
) -> list[str | None]:
    """`compute(missing payloads)` returns one string (or None) per payload, in order. `keys`: the payloads'
    `payload_key`s when the caller has them already. With `on_reply`, each payload's reply is also reported as
    `on_reply(index, reply)` as soon as it is known: cached ones at once, computed ones as `compute(missing, report)`
    calls `report(j, reply)` for the j-th missing payload (a compute used with `on_reply` takes that second
    argument; a reply it never reports is reported when it returns)."""
    keys = keys if keys is not None else [payload_key(backend, model, p) for p in payloads]
    found: dict[str, str | None] = {}
    if cache and keys:
        wanted = set(keys)
        found.update(_pending_of(cache, backend, model, wanted))
        unread = sorted(wanted - found.keys())
        if unread:
            found.update(cache.get_many(unread))
    stats.cache_hits += sum(k in found for k in keys)
    missing: dict[str, Any] = {}
    for key, payload in zip(keys, payloads, strict=True):
        if key not in found:
            missing.setdefault(key, payload)
    if on_reply is None:
        fresh_replies = compute(list(missing.values())) if missing else []
    else:
        positions: dict[str, list[int]] = {}
        for index, key in enumerate(keys):
            if key in found:
                on_reply(index, found[key])
            else:
                positions.setdefault(key, []).append(index)
        order, reported = list(missing), set()

        def report(j: int, reply: str | None) -> None:
            reported.add(j)
            for index in positions[order[j]]:
                on_reply(index, reply)

        fresh_replies = compute(list(missing.values()), report) if missing else []
        for j, reply in enumerate(fresh_replies):
            if j not in reported:
                report(j, reply)
    if missing:
        fresh = dict(zip(missing, fresh_replies, strict=True))
        if cache:
            computed = {k: v for k, v in fresh.items() if v is not None}
            if computed:
                _store(cache, backend, model, computed)
        found.update(fresh)
    return [found.get(k) for k in keys]
