"""The method's reward arithmetic (KNOWRL.md, "Rewards"), as pure functions with golden tests.

Golden values come from running the authors' functions (tests/knowrl/rewards/golden_rewards.json).
"""

from __future__ import annotations

import math

from knowrl.judges.base import Grade

GAMMA = 10
CORRECTNESS_SCORES = {Grade.CORRECT: 2.0, Grade.INCORRECT: -1.0, Grade.NOT_ATTEMPTED: 1.0}
MISSING_ANSWER_SCORE = -1.0


def format_score(well_formed: bool) -> float:
    return 1.0 if well_formed else -1.0


def correctness_score(answer: str | None, grade: Grade | None, rules: str = "2025-10") -> float | None:
    """2 correct, -1 incorrect, 1 not attempted, -1 missing/empty answer; None when the judge failed. With the June
    2025 rules not attempted is -1 too (a refusal was not rewarded then).

    The authors return 0.0 for a judge failure; TRL skips a None, which sums over the reward functions like 0.
    """
    if answer is None or not answer.strip():
        return MISSING_ANSWER_SCORE
    if grade is None:
        return None
    if rules == "2025-06" and grade == Grade.NOT_ATTEMPTED:
        return -1.0
    return CORRECTNESS_SCORES[grade]


def length_penalty(n_facts: int, gamma: int = GAMMA) -> float:
    if n_facts <= 0:
        return 0.0
    return 1.0 if n_facts > gamma else math.exp(1 - gamma / n_facts)


def factuality_score(supported: list[bool], gamma: int = GAMMA) -> float:
    """(supported facts / facts) x length penalty; no facts scores 0."""
    if not supported:
        return 0.0
    return sum(supported) / len(supported) * length_penalty(len(supported), gamma)


def combined_score(correctness: float | None, factuality: float) -> float | None:
    """-1 + factuality whenever correctness is -1 (judged incorrect, or no answer); otherwise the correctness score.

    A failed extraction or verification arrives here as factuality 0, as in the authors' code.
    """
    if correctness is None:
        return None
    if correctness == -1.0:
        return -1.0 + factuality
    return correctness


# Beyond KnowRL: the rewards of later factuality-RL papers, as pure functions (hand-worked cases in
# tests/knowrl/rewards/test_family.py).

TRUTHFULNESS_SCORES = {Grade.CORRECT: 1.0, Grade.NOT_ATTEMPTED: 0.0, Grade.INCORRECT: -1.0}


def truthfulness_score(answer: str | None, grade: Grade | None) -> float | None:
    """TruthRL's ternary reward (arXiv 2509.25760): +1 correct, 0 abstain (judged not attempted), -1 incorrect; a
    missing or empty answer -1 (their missing \\boxed{} is a hallucination); None when the judge failed."""
    if answer is None or not answer.strip():
        return -1.0
    if grade is None:
        return None
    return TRUTHFULNESS_SCORES[grade]


def binary_rar_score(contradiction: list[float], threshold: float) -> float:
    """Binary RAR (arXiv 2510.17733): 1 when no checked fact is contradicted, i.e. every fact's highest
    P(contradiction) over its retrieved passages stays below `threshold`; else 0. No facts (an abstention) is 1."""
    return 0.0 if any(p >= threshold for p in contradiction) else 1.0


def calibration_score(correct: bool, confidence: float) -> float:
    """RLCR (arXiv 2507.16806): 1{correct} - (q - 1{correct})^2, q the stated confidence in [0, 1]."""
    if not 0.0 <= confidence <= 1.0:
        raise ValueError(f"confidence must be in [0, 1], got {confidence!r}")
    hit = 1.0 if correct else 0.0
    return hit - (confidence - hit) ** 2
