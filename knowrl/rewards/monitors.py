"""Reward-hacking monitors: what one scored batch of completions says about how the policy treats its reward.

Continuous factuality rewards are gamed by saying less (Binary RAR, arXiv 2510.17733, and Meta's "Learning to
Reason for Factuality" both report it), by refusing everything, or by padding a wrong answer with true but
irrelevant facts. `batch_monitors` measures each batch; `MonitoredRewardLog` logs the values with the step's
other reward parts (`knowrl/<name>` in the training logs) and `knowrl.train.health` checks them against the
recipe's `grpo.health`.

Definitions (per batch of completions, as the reward functions saw it):
- `abstention_rate`: share of completions that abstain: the judge graded the answer "not attempted", or (June 2025
  rules, where the judge never sees one) the answer is one of the decline phrasings the pre-filter settles.
- `facts_per_completion`: mean number of atomic facts extracted from the reasoning, over the completions whose facts
  were checked (a completion without reasoning text counts 0 facts). Absent when none was checked: `combined` checks
  facts only for answers judged incorrect (`factuality` checks all), so a batch answered all right has no value.
- `grade_support_disagreement`: among completions the judge graded correct or incorrect whose facts were checked
  and that have at least one fact, the share where the grade and the NLI support disagree: judged correct with
  fewer than half of its facts supported (`LOW_SUPPORT`), or judged incorrect with every fact supported. Absent when
  no completion qualifies.
- `reward_failure_rate`: share of completions whose reward lost a signal: the judge failed on an answer it was asked
  to grade (after its retries), or the fact check failed (extraction or verification).
"""

from __future__ import annotations

from collections.abc import Sequence

from knowrl.judges.base import Grade
from knowrl.rewards import rules_2025_06 as june
from knowrl.rewards.registry import RewardLog
from knowrl.rewards.scorer import Question, RewardParts, RewardScorer

LOW_SUPPORT = 0.5  # a correct grade with a supported share below this disagrees with the NLI support

MONITORS = ("abstention_rate", "facts_per_completion", "grade_support_disagreement", "reward_failure_rate")


def abstains(part: RewardParts, rules: str) -> bool:
    """The completion declines to answer, as the judge (or, under the June 2025 rules, the pre-filter) sees it."""
    if part.grade == Grade.NOT_ATTEMPTED:
        return True
    return rules == june.VERSION and part.answer is not None and june.declines(part.answer)


def judge_failed(part: RewardParts, question: Question, rules: str) -> bool:
    """The judge was asked to grade the answer and gave no grade (its failure after retries)."""
    if not part.judged or part.grade is not None or not part.answer:
        return False
    settled = rules == june.VERSION and june.prefilter_score(part.answer, "; ".join(question.answers)) is not None
    return not settled


def facts_checked(part: RewardParts) -> bool:
    """Its facts were extracted and verified (a failed check has no support to compare)."""
    return part.factuality is not None and part.facts is not None and not part.fact_check_failed


def disagrees(part: RewardParts) -> bool | None:
    """Whether the judge's grade and the NLI support disagree; None when they cannot be compared (no correct or
    incorrect grade, facts not checked, or no fact)."""
    if part.grade not in (Grade.CORRECT, Grade.INCORRECT) or not facts_checked(part) or part.n_facts == 0:
        return None
    share = part.n_supported / part.n_facts
    if part.grade == Grade.CORRECT:
        return share < LOW_SUPPORT
    return part.n_supported == part.n_facts


def batch_monitors(parts: Sequence[RewardParts], questions: Sequence[Question], rules: str) -> dict[str, float]:
    """The monitors of one scored batch (see the module's docstring); a monitor with nothing to measure is left out."""
    if not parts:
        return {}
    n = len(parts)
    row = {
        "abstention_rate": sum(abstains(p, rules) for p in parts) / n,
        "reward_failure_rate": sum(
            judge_failed(p, q, rules) or p.fact_check_failed for p, q in zip(parts, questions, strict=True)
        )
        / n,
    }
    checked = [p for p in parts if facts_checked(p)]
    if checked:
        row["facts_per_completion"] = sum(p.n_facts for p in checked) / len(checked)
    compared = [d for d in (disagrees(p) for p in parts) if d is not None]
    if compared:
        row["grade_support_disagreement"] = sum(compared) / len(compared)
    return row


class MonitoredRewardLog(RewardLog):
    """The GRPO stage's reward log: each batch's reward parts and, beside them, its monitors (logged once a step, by
    the reward function that logs the parts)."""

    def add(self, parts: list[RewardParts], questions: list[Question], scorer: RewardScorer) -> dict[str, float]:
        row = super().add(parts, questions, scorer)
        row.update(batch_monitors(parts, questions, scorer.rules))  # the same dict RewardLog keeps in `rows`
        return row
