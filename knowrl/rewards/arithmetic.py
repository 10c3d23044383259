"""The method's reward arithmetic (KNOWRL.md, "Rewards"), as pure functions with golden tests."""

from __future__ import annotations

import math

from knowrl.judges.base import Grade

GAMMA = 10
ENTAILMENT_THRESHOLD = 0.3
CORRECTNESS_SCORES = {Grade.CORRECT: 2.0, Grade.INCORRECT: -1.0, Grade.NOT_ATTEMPTED: 1.0}
MISSING_ANSWER_SCORE = -1.0


def format_score(well_formed: bool) -> float:
    return 1.0 if well_formed else -1.0


def correctness_score(answer: str | None, grade: Grade | None) -> float | None:
    """2 correct, -1 incorrect, 1 not attempted, -1 missing/empty answer; None when the judge failed."""
    if answer is None or not answer.strip():
        return MISSING_ANSWER_SCORE
    if grade is None:
        return None  # no signal: TRL skips a None, which sums like the method's 0
    return CORRECTNESS_SCORES[grade]


def length_penalty(n_facts: int, gamma: int = GAMMA) -> float:
    if n_facts <= 0:
        return 0.0
    return 1.0 if n_facts > gamma else math.exp(1 - gamma / n_facts)


def factuality_score(entailment: list[float], threshold: float = ENTAILMENT_THRESHOLD, gamma: int = GAMMA) -> float:
    """(supported facts / facts) x length penalty; a fact is supported when P(entailment) >= threshold."""
    if not entailment:
        return 0.0
    supported = sum(p >= threshold for p in entailment)
    return supported / len(entailment) * length_penalty(len(entailment), gamma)


def combined_score(correctness: float | None, factuality: float | None) -> float | None:
    """-1 + factuality whenever correctness is -1; otherwise the correctness score."""
    if correctness is None:
        return None
    if correctness == -1.0:
        return None if factuality is None else -1.0 + factuality
    return correctness
