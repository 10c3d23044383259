"""Cache-then-compute for every backend: replies keyed by a hash of (backend, model, payload) in the warehouse.

Identical payloads in one batch are computed once; only what is missing from the cache is computed; a
result of None (a call that failed after retries) is returned but not cached, so a later batch retries it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from knowrl.hashing import stable_hash
from knowrl.transport.stats import CallStats
from storage.llm_cache import LLMCache


def payload_key(backend: str, model: str, payload: Any) -> str:
    return stable_hash([backend, model, payload], None)


def cached_many(
    cache: LLMCache | None,
    backend: str,
    model: str,
    payloads: list[Any],
    compute: Callable[[list[Any]], list[str | None]],
    stats: CallStats,
) -> list[str | None]:
    """`compute(missing payloads)` returns one string (or None) per payload, in order."""
    keys = [payload_key(backend, model, p) for p in payloads]
    found: dict[str, str | None] = dict(cache.get_many(sorted(set(keys)))) if cache and keys else {}
    stats.cache_hits += sum(k in found for k in keys)
    missing: dict[str, Any] = {}
    for key, payload in zip(keys, payloads, strict=True):
        if key not in found:
            missing.setdefault(key, payload)
    if missing:
        fresh = dict(zip(missing, compute(list(missing.values())), strict=True))
        if cache:
            cache.put_many(backend, model, {k: v for k, v in fresh.items() if v is not None})
        found.update(fresh)
    return [found.get(k) for k in keys]
