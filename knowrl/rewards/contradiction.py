"""P(contradiction) of (passage, fact) pairs, for Binary RAR's reward: from the NLI verifier's contradiction class,
or from the offline lexical stand-in. Kept apart from the verifiers' entailment path (knowrl/judges/nli.py), which
the KnowRL reward uses unchanged.

A checker is called with (premise passage, hypothesis fact) pairs and returns one probability (or None, when it
could not be computed) per pair.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from knowrl.errors import ConfigError
from knowrl.judges.answers import numbers_in
from knowrl.judges.base import CallStats

ContradictionFn = Callable[[list[tuple[str, str]]], list[float | None]]
CONTRADICTION_BACKEND = "nli-contradiction"  # the warehouse cache's backend name: P(contradiction) replies


def contradiction_index(id2label: dict[int, str]) -> int:
    """The contradiction class of an MNLI-style model, from its config's labels."""
    for index, label in id2label.items():
        if str(label).lower().startswith("contradict"):
            return int(index)
    raise ConfigError(
        f"NLI model labels {id2label} have no 'contradiction' class; binary_rar needs an MNLI-style model with "
        "entailment, neutral and contradiction labels (verifier.nli_model)"
    )


class NLIContradiction:
    """P(contradiction) of each pair from the NLI verifier's own model and tokenizer (loaded once, shared with the
    entailment path); cached in the warehouse under its own backend name."""

    def __init__(self, verifier: Any) -> None:
        self.verifier = verifier
        self.index = contradiction_index(verifier.model.config.id2label)
        self.stats = CallStats()

    def _forward(self, pairs: list[list[str]]) -> list[str | None]:
        return self.verifier.class_probabilities(pairs, self.index, self.stats)

    def __call__(self, pairs: list[tuple[str, str]]) -> list[float | None]:
        from knowrl.transport.cache import cached_many

        payloads = [[premise, fact] for premise, fact in pairs]
        v = self.verifier
        replies = cached_many(v.cache, CONTRADICTION_BACKEND, v.name, payloads, self._forward, self.stats)
        return [None if r is None else float(r) for r in replies]


class LexicalContradiction:
    """The offline stand-in (no model): a fact contradicts a passage (1.0) when the passage is about what the fact
    states (at least `lexical_min_overlap` of the fact's non-number content words are in it) and both state
    numbers, none of the fact's among the passage's (a different year, count or age); else 0.0."""

    def __init__(self, min_overlap: float) -> None:
        self.min_overlap = min_overlap
        self.stats = CallStats()

    def probability(self, fact: str, passage: str) -> float:
        from knowrl.judges.rules import content_words

        fact_numbers, passage_numbers = set(numbers_in(fact)), set(numbers_in(passage))
        if not fact_numbers or not passage_numbers or fact_numbers & passage_numbers:
            return 0.0
        words = {w for w in content_words(fact) if not any(ch.isdigit() for ch in w)}
        if not words:
            return 0.0
        share = len(words & content_words(passage)) / len(words)
        return 1.0 if share >= self.min_overlap else 0.0

    def __call__(self, pairs: list[tuple[str, str]]) -> list[float | None]:
        self.stats.calls += len(pairs)
        return [self.probability(fact, passage) for passage, fact in pairs]


def contradiction_checker(verifier: Any) -> ContradictionFn:
    """The P(contradiction) function for the configured verifier: the NLI model's contradiction class, the lexical
    stand-in, or a verifier's own `contradiction_pairs`. The LLM verifier has none yet: a clear error."""
    own = getattr(verifier, "contradiction_pairs", None)
    if callable(own):
        return own
    backend = getattr(verifier, "backend", None)
    if backend == "nli" and hasattr(verifier, "model"):
        return NLIContradiction(verifier)
    if hasattr(verifier, "min_overlap"):  # LexicalVerifier
        return LexicalContradiction(verifier.min_overlap)
    raise ConfigError(
        f"reward binary_rar needs P(contradiction) from the verifier, and {type(verifier).__name__} gives none; set "
        "grpo.verifier.backend to nli (an MNLI-style model) or lexical (the offline stand-in)"
    )
