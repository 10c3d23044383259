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
