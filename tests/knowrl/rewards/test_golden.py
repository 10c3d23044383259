"""Golden cases: our reward pieces against values produced by running the KnowRL authors' own functions.

`golden_rewards.json` was written by `scripts/make_golden_rewards.py` from the cases in `golden_inputs.json` and
zjunlp/KnowRL (commit in the file). Every case must match, except the ones listed below, where we deliberately
differ; each says why in one line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowrl.judges.prompts import parse_facts, parse_grade
from knowrl.method.parsing import reward_view
from knowrl.rewards.arithmetic import CORRECTNESS_SCORES, combined_score, factuality_score

GOLDEN = json.loads((Path(__file__).parent / "golden_rewards.json").read_text())
TEMPLATE_OPENED = (
    "the chat template opened <think>, so the reasoning is the text before </think>; their regex falls back to the "
    "whole completion and extracts facts from the answer block too"
)
FACT_TEXT_DIFFERS = {
    "template-opened-think": TEMPLATE_OPENED,
    "template-opened-compact": TEMPLATE_OPENED,
    "empty-reasoning-template-opened": TEMPLATE_OPENED,
}
ARTICLE = "their parser reads any standalone 'a' (the English article) as grade A before looking for B or C"
JUDGE_DIFFERS = {
    "This is a tricky one. B": ARTICLE,
    "I'd grade this as a C": ARTICLE,
    "Incorrect, but a good try": ARTICLE,
    "B. The model named a different city.": ARTICLE,
    "B\nNote: an A-grade attempt, but wrong.": ARTICLE,
    "The predicted answer is not correct": "their word pattern matches CORRECT inside 'not correct'",
}
MARKER_AS_FACT = "a NON_FACTUAL marker not at the start of its line is scored by them as one fact; we read no facts"
PARSE_DIFFERS = {
    "- Paris is the capital of France.\n- NON_FACTUAL: nothing else here.": MARKER_AS_FACT,
    "Here are the facts: NON_FACTUAL: none": MARKER_AS_FACT,
}


def _ids(cases: list[dict], key: str) -> list[str]:
    return [str(c[key])[:40] for c in cases]


def test_golden_file_is_large_enough() -> None:
    assert len(GOLDEN["completions"]) >= 40 and len(GOLDEN["judge_replies"]) >= 25
    assert GOLDEN["source"]["repo"] == "zjunlp/KnowRL" and len(GOLDEN["source"]["commit"]) == 40


@pytest.mark.parametrize("case", GOLDEN["completions"], ids=_ids(GOLDEN["completions"], "id"))
def test_format_and_answer_as_the_authors(case: dict) -> None:
    view = reward_view(case["completion"])
    assert (1.0 if view.well_formed else -1.0) == case["format_reward"], case["note"]
    assert (view.answer_status, view.answer) == (case["answer_status"], case["answer"]), case["note"]


@pytest.mark.parametrize("case", GOLDEN["completions"], ids=_ids(GOLDEN["completions"], "id"))
def test_reasoning_sent_to_fact_extraction(case: dict) -> None:
    ours = reward_view(case["completion"]).fact_text
    if case["id"] in FACT_TEXT_DIFFERS:
        assert ours != case["fact_text"] and "</answer>" not in ours, FACT_TEXT_DIFFERS[case["id"]]
        return
    assert ours == case["fact_text"], case["note"]


@pytest.mark.parametrize("case", GOLDEN["judge_replies"], ids=_ids(GOLDEN["judge_replies"], "reply"))
def test_judge_reply_mapping(case: dict) -> None:
    grade = parse_grade(case["reply"])
    # An unreadable reply: theirs scores 0.0, ours is None ("no signal"), which TRL sums like 0.
    ours = CORRECTNESS_SCORES[grade] if grade is not None else 0.0
    if case["reply"] in JUDGE_DIFFERS:
        assert ours != case["score"], JUDGE_DIFFERS[case["reply"]]
        return
    assert ours == case["score"]


def test_our_reading_of_the_replies_they_misread() -> None:
    expected = {
        "This is a tricky one. B": -1.0,
        "I'd grade this as a C": 1.0,
        "Incorrect, but a good try": -1.0,
        "B. The model named a different city.": -1.0,
        "B\nNote: an A-grade attempt, but wrong.": -1.0,
        "The predicted answer is not correct": -1.0,
    }
    assert {reply: CORRECTNESS_SCORES[parse_grade(reply)] for reply in expected} == expected


@pytest.mark.parametrize("case", GOLDEN["fact_parsing"], ids=_ids(GOLDEN["fact_parsing"], "response"))
def test_fact_parsing(case: dict) -> None:
    ours = parse_facts(case["response"])
    theirs = case["facts"]
    if case["response"] is None:
        # No reply: theirs becomes a NON_FACTUAL marker (factuality 0); ours is None, counted as a failure (also 0).
        assert ours is None
        return
    if len(theirs) == 1 and theirs[0].startswith("NON_FACTUAL:"):
        theirs = []  # their marker for "no facts"
    if case["response"] in PARSE_DIFFERS:
        assert ours == [] and theirs != [], PARSE_DIFFERS[case["response"]]
        return
    assert ours == theirs


@pytest.mark.parametrize("case", GOLDEN["factuality"], ids=[f"{len(c['facts'])}-facts" for c in GOLDEN["factuality"]])
def test_factuality_arithmetic(case: dict) -> None:
    supported = case["supported"]
    if len(case["facts"]) == 1 and case["facts"][0].startswith("NON_FACTUAL:"):
        supported = []
    assert factuality_score(supported) == pytest.approx(case["score"], abs=1e-12)


# A refusal flag with a judge score of -1 cannot occur in their code (the flag means a score of 1.0).
COMBINED = [c for c in GOLDEN["combined"] if not (c["is_refusal"] and c["llm_reward"] == -1.0)]


@pytest.mark.parametrize("case", COMBINED, ids=[str(i) for i in range(len(COMBINED))])
def test_combined_rule(case: dict) -> None:
    assert combined_score(case["llm_reward"], case["fact_score"]) == pytest.approx(case["reward"])
