"""Golden tests of the method's reward arithmetic (KNOWRL.md, "Rewards")."""

from __future__ import annotations

import math

import pytest

from knowrl.judges.base import Grade
from knowrl.method.parsing import is_well_formed, parse_completion
from knowrl.rewards.arithmetic import combined_score, correctness_score, factuality_score, format_score, length_penalty


@pytest.mark.parametrize(
    ("n", "expected"),
    [(0, 0.0), (1, math.exp(1 - 10)), (9, math.exp(1 - 10 / 9)), (10, 1.0), (11, 1.0)],
)
def test_length_penalty(n: int, expected: float) -> None:
    assert length_penalty(n) == pytest.approx(expected)


def test_entailment_threshold_is_inclusive_at_0_3() -> None:
    ten = [0.3] * 5 + [0.2999] * 5
    assert factuality_score(ten) == pytest.approx(0.5)
    assert factuality_score([0.3] * 12) == 1.0
    assert factuality_score([]) == 0.0
    assert factuality_score([0.9]) == pytest.approx(math.exp(-9))


@pytest.mark.parametrize(
    ("answer", "grade", "expected"),
    [
        ("Paris", Grade.CORRECT, 2.0),
        ("Lyon", Grade.INCORRECT, -1.0),
        ("I don't know.", Grade.NOT_ATTEMPTED, 1.0),
        (None, None, -1.0),
        ("   ", Grade.CORRECT, -1.0),
        ("Paris", None, None),
    ],
)
def test_correctness(answer, grade, expected) -> None:
    assert correctness_score(answer, grade) == expected


@pytest.mark.parametrize(
    ("correctness", "factuality", "expected"),
    [
        (2.0, 0.0, 2.0),
        (2.0, 0.9, 2.0),
        (1.0, 0.5, 1.0),
        (-1.0, 0.0, -1.0),
        (-1.0, 0.75, -0.25),
        (-1.0, None, None),
        (None, 0.5, None),
    ],
)
def test_combined_rule(correctness, factuality, expected) -> None:
    assert combined_score(correctness, factuality) == expected


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("<think>reasoning</think><answer>Paris</answer>", True),
        ("reasoning</think>\n<answer>Paris</answer>", True),  # the template opened <think> already
        ("  <think>\nr\n</think>\n\n<answer> Paris </answer>\n", True),
        ("<think>r</think>text<answer>Paris</answer>", False),
        ("<think> </think><answer>Paris</answer>", False),
        ("<think>r</think><answer></answer>", False),
        ("<think>r</think><answer>Paris</answer> more", False),
        ("<think>r <think>x</think><answer>Paris</answer>", False),
        ("<think>r</think><answer>a <answer>b</answer>", False),
        ("<think>r</think>", False),
        ("Paris", False),
    ],
)
def test_format_rule(text: str, ok: bool) -> None:
    assert is_well_formed(text) is ok
    assert format_score(is_well_formed(text)) == (1.0 if ok else -1.0)


def test_tolerant_parse_reports_what_is_missing() -> None:
    assert parse_completion("<think>x</think><answer>Paris").status == "unclosed_answer"
    assert parse_completion("<think>x</think><answer>Paris").answer == "Paris"
    missing = parse_completion("<think>x</think> Paris")
    assert (missing.answer, missing.status) == (None, "missing_answer")
    several = parse_completion("<think>x</think><answer>A</answer><answer>B</answer>")
    assert (several.answer, several.status) == ("B", "several_answers")
    chinese = parse_completion("<think>北京是首都。</think><answer>北京</answer>")
    assert (chinese.think, chinese.answer, chinese.well_formed) == ("北京是首都。", "北京", True)
    assert parse_completion("<think>still thinking").status == "unclosed_think"
