"""Golden cases of the June 2025 reward details (`reward_rules: "2025-06"`, the published model's code) against
values produced by running the authors' functions at commit cf76daf (`golden_rewards_2025-06.json`, written by
`scripts/make_golden_rewards.py --version 2025-06` from the `2025_06` cases of `golden_inputs.json`).

What they ran: their correctness function with the judge stubbed to grade A (so 2.0 means "reached the judge" and
-1 "settled by their refusal patterns or keyword check"), their judge-reply mapping, and their count-based
factuality (FactScorer with count_supported=True, then min(count / 15, 1)).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowrl.judges.base import Grade
from knowrl.judges.prompts import parse_grade
from knowrl.rewards import rules_2025_06 as june
from knowrl.rewards.arithmetic import correctness_score

GOLDEN = json.loads((Path(__file__).parent / "golden_rewards_2025-06.json").read_text())
# Replies their parser misreads and ours does not (the same quirk as in test_golden.py, one line why).
JUDGE_DIFFERS = {
    "The answer is a guess: B": "their parser reads the standalone article 'a' as grade A before looking for B",
}


def test_the_golden_file_comes_from_their_june_code() -> None:
    assert GOLDEN["source"] == {"repo": "zjunlp/KnowRL", "commit": GOLDEN["source"]["commit"]}
    assert GOLDEN["source"]["commit"].startswith("cf76daf")
    assert len(GOLDEN["prefilter"]) >= 40 and len(GOLDEN["factuality"]) >= 10


@pytest.mark.parametrize("case", GOLDEN["prefilter"], ids=[c["answer"][:30] for c in GOLDEN["prefilter"]])
def test_answers_settled_before_the_judge_as_theirs(case: dict) -> None:
    settled = june.prefilter_score(case["answer"], case["gold"])
    ours = settled if settled is not None else correctness_score(case["answer"], Grade.CORRECT, june.VERSION)
    assert ours == case["reward"]


@pytest.mark.parametrize(
    "case", GOLDEN["judge_replies"], ids=[c["reply"][:30] or "empty" for c in GOLDEN["judge_replies"]]
)
def test_judge_reply_mapping_with_refusals_scored_as_wrong(case: dict) -> None:
    grade = parse_grade(case["reply"])
    # An unreadable reply: theirs scores 0.0, ours is None ("no signal"), which TRL sums like 0.
    ours = correctness_score("Paris", grade, june.VERSION) if grade is not None else 0.0
    if case["reply"] in JUDGE_DIFFERS:
        assert ours != case["score"], JUDGE_DIFFERS[case["reply"]]
        return
    assert ours == case["score"]


@pytest.mark.parametrize("case", GOLDEN["factuality"], ids=[str(len(c["supported"])) for c in GOLDEN["factuality"]])
def test_count_based_factuality(case: dict) -> None:
    assert june.factuality_count_score(case["supported"]) == pytest.approx(case["score"])


def test_the_later_rules_reward_a_refusal() -> None:
    """What changed in v1.0.0: "not attempted" earns +1 instead of -1."""
    assert correctness_score("I don't know.", Grade.NOT_ATTEMPTED, "2025-10") == 1.0
    assert correctness_score("I don't know.", Grade.NOT_ATTEMPTED, june.VERSION) == -1.0
