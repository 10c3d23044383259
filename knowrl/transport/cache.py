"""Cache-then-compute for every backend: replies keyed by a hash of (backend, model, payload) in the warehouse.

Identical payloads in one batch are computed once; only what is missing from the cache is computed; a
result of None (a call that failed after retries) is returned but not cached, so a later batch retries it.

Every read and write of the warehouse opens its file (a short-lived connection, so other processes can take its
lock between two of ours) and a write commits a transaction: ~5-15 ms each, whatever the number of rows. A GRPO step
scores in several batches (the judge's, the extractor's, the verifier's waves), so `deferred_writes` keeps what they
compute in memory and writes it once when the step's scoring ends, one transaction per (backend, model); a batch in
the block also finds what an earlier batch of the block computed.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from knowrl.hashing import stable_hash
from knowrl.transport.stats import CallStats
from storage.llm_cache import LLMCache

# id(cache) -> (backend, model) -> {key: reply}: replies computed inside a `deferred_writes` block, not written yet.
_PENDING: dict[int, dict[tuple[str, str], dict[str, str]]] = {}
_PENDING_LOCK = threading.Lock()


def payload_key(backend: str, model: str, payload: Any) -> str:
    return stable_hash([backend, model, payload], None)


@contextlib.contextmanager
def deferred_writes(caches: Iterable[LLMCache | None]) -> Iterator[None]:
    """Inside the block, what `cached_many` computes for these caches is written when the block ends (also when it
    raises: the replies are good). A block inside another one for the same cache leaves the writing to the outer."""
    unique = {id(cache): cache for cache in caches if cache is not None}
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
            for (backend, model), entries in groups.items():
                unique[key].put_many(backend, model, entries)


def _pending_of(cache: LLMCache, backend: str, model: str, keys: Iterable[str]) -> dict[str, str]:
    with _PENDING_LOCK:
        groups = _PENDING.get(id(cache))
        entries = groups.get((backend, model)) if groups else None
        return {k: entries[k] for k in keys if k in entries} if entries else {}


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
    compute: Callable[[list[Any]], list[str | None]],
    stats: CallStats,
    keys: list[str] | None = None,
) -> list[str | None]:
    """`compute(missing payloads)` returns one string (or None) per payload, in order. `keys`: the payloads'
    `payload_key`s when the caller has them already."""
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
    if missing:
        fresh = dict(zip(missing, compute(list(missing.values())), strict=True))
        if cache:
            computed = {k: v for k, v in fresh.items() if v is not None}
            if computed:
                _store(cache, backend, model, computed)
        found.update(fresh)
    return [found.get(k) for k in keys]
