"""What a transport counts: calls, cache hits, failures, tokens, and the model the endpoint says answered."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CallStats:
    """Counters a transport keeps: what training logs as judge calls, cache hits and failures, and what the
    lineage records (tokens used, the models that answered)."""

    calls: int = 0
    cache_hits: int = 0
    failures: int = 0
    last_error: str | None = None  # what the last failed call reported (never a key or a prompt)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reported_models: set[str] = field(default_factory=set)  # the `model` field of the endpoint's replies
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add_usage(self, prompt_tokens: int, completion_tokens: int, model: str | None) -> None:
        with self._lock:
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            if model:
                self.reported_models.add(model)

    def snapshot(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "cache_hits": self.cache_hits,
            "failures": self.failures,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }
