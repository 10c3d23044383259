"""Fact verification one (passage, fact) pair at a time, as the authors' NLI check does, batched across a step.

A fact is supported as soon as one of its passages (in retrieval order) reaches the entailment threshold;
passages are never joined into one premise. The pairs of a whole GRPO step go through in waves: first every
fact with its best passage, then the facts still unsupported with their second passage, and so on. That is
the authors' early exit, with every wave one batched forward pass instead of one pass per pair.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from knowrl.judges.base import CallStats


class PairwiseVerifier(ABC):
    """Subclasses score (premise passage, hypothesis fact) pairs; this class decides support per fact."""

    threshold: float
    stats: CallStats

    @abstractmethod
    def score_pairs(self, pairs: list[tuple[str, str]]) -> list[float | None]:
        """P(entailment) of each (passage, fact) pair; None where it could not be computed."""

    def entailment_many(self, pairs: list[tuple[str, list[str]]]) -> list[float | None]:
        """Per fact: P(entailment) of the first passage that reaches the threshold, else the best one seen
        (0.0 for a fact without passages); None when a needed pair could not be scored. A (passage, fact) pair met
        more than once (completions of one prompt repeat facts) is scored once."""
        best: list[float | None] = [0.0] * len(pairs)
        scored: dict[tuple[str, str], float | None] = {}
        open_facts = [i for i, (_, passages) in enumerate(pairs) if passages]
        rank = 0
        while open_facts:
            wave = [i for i in open_facts if rank < len(pairs[i][1])]
            if not wave:
                break
            wanted = [(pairs[i][1][rank], pairs[i][0]) for i in wave]
            new = list(dict.fromkeys(pair for pair in wanted if pair not in scored))
            if new:
                scored.update(zip(new, self.score_pairs(new), strict=True))
            still_open = []
            for i, pair in zip(wave, wanted, strict=True):
                prob = scored[pair]
                if prob is None:
                    best[i] = None  # verification failed for this fact: the caller counts it and scores 0
                    continue
                best[i] = max(best[i] or 0.0, prob) if prob < self.threshold else prob
                if prob < self.threshold:
                    still_open.append(i)
            open_facts = still_open
            rank += 1
        return best
