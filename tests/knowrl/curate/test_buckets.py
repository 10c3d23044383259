"""Bucketing and the policy, on cases worked by hand: pass rate, refusal rate, agreement, buckets, drops and caps."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from knowrl.curate.buckets import (
    CurationError,
    QuestionStats,
    answer_agreement,
    bucket_of,
    capped_counts,
    question_stats,
    select,
)
from knowrl.curate.config import CurateConfig, CuratePolicy

C, W, N = "correct", "incorrect", "not_attempted"  # W: wrong


def stats(row_id: str, correct: int, refused: int, k: int = 4) -> QuestionStats:
    return QuestionStats(row_id, f"q {row_id}", k, correct, refused, 1.0)


def test_pass_rate_refusal_rate_and_agreement_of_one_question() -> None:
    s = question_stats("r1", "Capital of France?", [C, C, W, N], ["Paris", "paris.", "Lyon", "I don't know."])
    assert (s.samples, s.correct, s.refused) == (4, 2, 1)
    assert (s.pass_rate, s.refusal_rate, s.agreement) == (0.5, 0.25, 0.5)  # "Paris" and "paris." are one answer
    assert s.bucket == "sometimes"
    # Every not-attempted sample is the same answer, whatever its text (or none at all).
    assert answer_agreement([N, N, N], ["I don't know.", None, "no idea"]) == 1.0
    assert answer_agreement([W, W, W], ["a", "b", "c"]) == pytest.approx(1 / 3)
    with pytest.raises(CurationError, match="no graded sample"):
        answer_agreement([], [])


@pytest.mark.parametrize(
    ("correct", "refused", "bucket"),
    [
        (4, 0, "always_correct"),
        (0, 4, "always_refused"),
        (0, 3, "never_correct"),  # one wrong attempt: it guesses, never right
        (0, 0, "never_correct"),
        (1, 3, "sometimes"),
        (3, 0, "sometimes"),
    ],
)
def test_buckets(correct: int, refused: int, bucket: str) -> None:
    assert bucket_of(stats("r", correct, refused)) == bucket


def _questions() -> list[QuestionStats]:
    """10 questions: 4 always right (a0-a3), 3 sometimes (s0-s2), 2 never right (n0, n1), 1 always refused (x0)."""
    return (
        [stats(f"a{i}", 4, 0) for i in range(4)]
        + [stats(f"s{i}", 2, 1) for i in range(3)]
        + [stats(f"n{i}", 0, 1) for i in range(2)]
        + [stats("x0", 0, 4)]
    )


def test_default_policy_drops_what_the_model_always_gets_right() -> None:
    picked = select(_questions(), CuratePolicy())
    assert picked.kept == ["s0", "s1", "s2", "n0", "n1", "x0"]  # in the questions' order
    assert picked.sizes == {"always_correct": 4, "sometimes": 3, "never_correct": 2, "always_refused": 1}
    assert picked.kept_by_bucket == {"always_correct": 0, "sometimes": 3, "never_correct": 2, "always_refused": 1}
    assert picked.left_out == 4


def test_keep_all_keeps_every_question_and_still_counts_the_buckets() -> None:
    picked = select(_questions(), CuratePolicy(keep_all=True))
    assert len(picked.kept) == 10 and picked.left_out == 0 and picked.sizes["always_correct"] == 4


def test_a_capped_bucket_makes_up_at_most_its_share_of_the_kept_set() -> None:
    # Nothing dropped; always_correct at most 20%: with the 6 others kept, x / (6 + x) <= 0.2 -> x = 1 (1/7).
    picked = select(_questions(), CuratePolicy(drop=[], max_share={"always_correct": 0.2}))
    assert picked.kept_by_bucket["always_correct"] == 1 and len(picked.kept) == 7
    assert sum(r.startswith("a") for r in picked.kept) == 1
    # The same seed keeps the same questions; another seed may keep others, never more.
    assert select(_questions(), CuratePolicy(drop=[], max_share={"always_correct": 0.2})).kept == picked.kept
    other = select(_questions(), CuratePolicy(drop=[], max_share={"always_correct": 0.2}, seed=7))
    assert other.kept_by_bucket == picked.kept_by_bucket


def test_capped_counts_are_the_largest_that_hold() -> None:
    assert capped_counts({"a": 4, "s": 3, "n": 3}, {"a": 0.5}) == {"a": 4, "s": 3, "n": 3}  # 4/10 <= 0.5
    assert capped_counts({"a": 10, "s": 5}, {"a": 0.5}) == {"a": 5, "s": 5}
    assert capped_counts({"a": 100, "s": 71}, {"a": 0.29}) == {"a": 29, "s": 71}  # 0.29 * 100 is 28.999...
    # Two capped buckets: a <= 0.5 T, s <= 0.25 T with n = 2 uncapped -> a = 4, s = 2 (T = 8).
    assert capped_counts({"a": 10, "s": 10, "n": 2}, {"a": 0.5, "s": 0.25}) == {"a": 4, "s": 2, "n": 2}
    # Every bucket capped below a whole: nothing can be kept.
    assert capped_counts({"a": 3, "s": 3}, {"a": 0.4, "s": 0.4}) == {"a": 0, "s": 0}


def test_a_policy_that_keeps_nothing_names_the_buckets_and_the_fix() -> None:
    only_known = [stats(f"a{i}", 4, 0) for i in range(3)]
    with pytest.raises(CurationError, match=r"keeps none of the 3 questions \(buckets: always_correct 3.*keep_all"):
        select(only_known, CuratePolicy())


def test_policy_and_sampling_errors_name_the_value_and_the_fix() -> None:
    with pytest.raises(ValidationError, match=r"max_share.sometimes=1.5 is not a fraction in \(0, 1\]"):
        CuratePolicy(max_share={"sometimes": 1.5})
    with pytest.raises(ValidationError, match="both dropped and capped"):
        CuratePolicy(drop=["sometimes"], max_share={"sometimes": 0.5})
    with pytest.raises(ValidationError, match="lists every bucket"):
        CuratePolicy(drop=["always_correct", "sometimes", "never_correct", "always_refused"])
    with pytest.raises(ValidationError, match="keep_all keeps every question"):
        CuratePolicy(keep_all=True, max_share={"sometimes": 0.5})
    with pytest.raises(ValidationError, match="max_share.always_wrong"):
        CuratePolicy(max_share={"always_wrong": 0.5})
    with pytest.raises(ValidationError, match="k=4 with temperature 0 repeats one greedy answer"):
        CurateConfig(enabled=True, temperature=0)
    assert CuratePolicy(keep_all=True).describe() == "keep all"
    capped = CuratePolicy(max_share={"never_correct": 0.25})
    assert capped.describe() == "drop always_correct; never_correct at most 25%"
