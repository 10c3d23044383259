"""The three interfaces: a correctness judge, a fact extractor, a fact verifier. All work on batches.

A backend returns None for an item it could not score (an endpoint down after retries): the reward
then yields None for that completion and training goes on.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from knowrl.transport.stats import CallStats

__all__ = ["CallStats", "FactExtractor", "FactVerifier", "Grade", "Judge", "JudgeItem"]


class Grade(enum.StrEnum):
    CORRECT = "correct"
    INCORRECT = "incorrect"
    NOT_ATTEMPTED = "not_attempted"


@dataclass(frozen=True)
class JudgeItem:
    question: str
    gold: tuple[str, ...]
    answer: str
    incorrect: tuple[str, ...] = ()  # known wrong answers (TruthfulQA), when the benchmark has them


class Judge(Protocol):
    stats: CallStats

    def grade_many(self, items: list[JudgeItem]) -> list[Grade | None]: ...


class FactExtractor(Protocol):
    stats: CallStats

    def extract_many(
        self, texts: list[str], on_facts: Callable[[int, list[str] | None], None] | None = None
    ) -> list[list[str] | None]:
        """Facts of each text (None where extraction failed); `on_facts(index, facts)` as each text's are known, so
        a caller can check the first texts' facts while the others are still extracted."""
        ...


class FactVerifier(Protocol):
    stats: CallStats

    def entailment_many(self, pairs: list[tuple[str, list[str]]]) -> list[float | None]:
        """Support of each fact by its passages (ranked best first), on the P(entailment) scale: the fact is
        supported when the value reaches the configured threshold. None when it could not be computed."""
        ...
