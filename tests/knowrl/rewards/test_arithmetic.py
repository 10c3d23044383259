"""Reward arithmetic (KNOWRL.md, "Rewards"); the authors' own values are checked in test_golden.py."""

from __future__ import annotations

import math

import pytest

from knowrl.judges.base import Grade
from knowrl.method.parsing import final_answer, is_well_formed
from knowrl.rewards.arithmetic import combined_score, correctness_score, factuality_score, format_score, length_penalty


@pytest.mark.parametrize(
    ("n", "expected"),
    [(0, 0.0), (1, math.exp(1 - 10)), (9, math.exp(1 - 10 / 9)), (10, 1.0), (11, 1.0)],
)
def test_length_penalty(n: int, expected: float) -> None:
    assert length_penalty(n) == pytest.approx(expected)


def test_factuality_is_supported_share_times_penalty() -> None:
    assert factuality_score([True] * 5 + [False] * 5) == pytest.approx(0.5)
    assert factuality_score([True] * 12) == 1.0
    assert factuality_score([]) == 0.0
    assert factuality_score([True]) == pytest.approx(math.exp(-9))
    assert factuality_score([True] * 5, gamma=5) == 1.0


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
        (-1.0, 0.0, -1.0),  # also what a failed fact check gives: factuality 0
        (-1.0, 0.75, -0.25),
        (None, 0.5, None),  # the judge failed: no signal
    ],
)
def test_combined_rule(correctness, factuality, expected) -> None:
    assert combined_score(correctness, factuality) == expected


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("<think>reasoning</think><answer>Paris</answer>", True),
        ("reasoning</think>\n<answer>Paris</answer>", True),  # the template opened <think> already
        ("<think>\nr\n</think>\n\n<answer> Paris </answer>\n", True),  # one trailing newline is allowed
        ("<think>r</think><answer>Paris</answer>\n\n", False),
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


@pytest.mark.parametrize(
    ("text", "answer", "followed", "source"),
    [
        ("<think>x</think><answer>Paris</answer>", "Paris", True, "answer_tag"),
        ("<think>x</think><answer>Paris", "Paris", False, "after_think"),  # ran out before </answer>
        ("x</think>\n\nThe answer is Paris.", "The answer is Paris.", False, "after_think"),  # a base model
        ("<think>a</think> b </think> Final: Paris", "Final: Paris", False, "after_think"),  # after the last one
        ("Paris is the capital.", "Paris is the capital.", False, "whole_output"),
        ("<think>still thinking", "<think>still thinking", False, "whole_output"),
        ("x</think>", None, False, "empty"),
        ("<think>北京是首都。</think><answer>北京</answer>", "北京", True, "answer_tag"),
    ],
)
def test_final_answer_grades_any_model(text: str, answer: str | None, followed: bool, source: str) -> None:
    result = final_answer(text)
    assert (result.answer, result.followed_format, result.source) == (answer, followed, source)
