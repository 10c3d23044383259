"""The knowledge boundary of a model, question by question: from its k graded samples, a question's pass rate,
refusal rate and answer agreement, its bucket, and the GRPO set a policy picks from the buckets.

Pure functions over grades (no model, no warehouse), so the rules are tested by hand-worked cases.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from knowrl.curate.config import BUCKETS, CuratePolicy
from knowrl.errors import InputError
from knowrl.judges.answers import normalize_answer
from knowrl.judges.base import Grade

NOT_ATTEMPTED = Grade.NOT_ATTEMPTED.value
_NO_ANSWER = "<not attempted>"  # every refusal (and every sample without an answer) counts as one same answer


class CurationError(InputError):
    """The policy leaves GRPO no question, or the samples do not match the questions."""


@dataclass(frozen=True)
class QuestionStats:
    """One question's k graded samples: how many were correct, how many not attempted (a refusal, or no answer at
    all: graded as the evaluation grades them), and the share of samples that give its most frequent answer."""

    row_id: str
    question: str
    samples: int
    correct: int
    refused: int
    agreement: float

    @property
    def pass_rate(self) -> float:
        return self.correct / self.samples

    @property
    def refusal_rate(self) -> float:
        return self.refused / self.samples

    @property
    def bucket(self) -> str:
        return bucket_of(self)

    def as_row(self) -> dict[str, Any]:
        return {
            "row_id": self.row_id,
            "question": self.question,
            "samples": self.samples,
            "correct": self.correct,
            "refused": self.refused,
            "pass_rate": round(self.pass_rate, 4),
            "refusal_rate": round(self.refusal_rate, 4),
            "agreement": round(self.agreement, 4),
            "bucket": self.bucket,
        }


def answer_agreement(grades: list[str], answers: list[str | None]) -> float:
    """The share of the samples that give the most frequent answer (answers compared normalised; every sample
    graded not attempted counts as the same answer): 1.0 when all k agree, 1/k when no two do."""
    if not grades:
        raise CurationError("a question has no graded sample; curate.k must be at least 1")
    keys = [
        _NO_ANSWER if grade == NOT_ATTEMPTED or not answer else normalize_answer(answer)
        for grade, answer in zip(grades, answers, strict=True)
    ]
    return Counter(keys).most_common(1)[0][1] / len(keys)


def question_stats(row_id: str, question: str, grades: list[str], answers: list[str | None]) -> QuestionStats:
    """A question's stats from its samples' grades (`correct`, `incorrect`, `not_attempted`) and final answers."""
    return QuestionStats(
        row_id=row_id,
        question=question,
        samples=len(grades),
        correct=sum(g == Grade.CORRECT.value for g in grades),
        refused=sum(g == NOT_ATTEMPTED for g in grades),
        agreement=answer_agreement(grades, answers),
    )


def bucket_of(stats: QuestionStats) -> str:
    """`always_correct`: right in every sample; `always_refused`: never attempted (a refusal or no answer in every
    sample); `never_correct`: attempted at least once and never right; `sometimes`: right in some samples."""
    if stats.correct == stats.samples:
        return "always_correct"
    if stats.refused == stats.samples:
        return "always_refused"
    if stats.correct == 0:
        return "never_correct"
    return "sometimes"


@dataclass(frozen=True)
class Selection:
    """What a policy kept: the row ids in the questions' order, and per bucket its size and how many were kept."""

    kept: list[str]
    sizes: dict[str, int]
    kept_by_bucket: dict[str, int] = field(default_factory=dict)

    @property
    def left_out(self) -> int:
        return sum(self.sizes.values()) - len(self.kept)


def capped_counts(sizes: dict[str, int], caps: dict[str, float]) -> dict[str, int]:
    """How many questions of each bucket to keep so that a capped bucket makes up at most its fraction of the kept
    set, keeping as many as possible: the largest counts with count[b] <= sizes[b] and, for a capped b,
    count[b] <= caps[b] * sum(count). Found by lowering the counts from the sizes until they hold (each pass can
    only lower them, and the first counts that hold are the largest that do)."""
    counts = dict(sizes)
    while True:
        total = sum(counts.values())
        lowered = {
            bucket: min(size, math.floor(caps[bucket] * total + 1e-9)) if bucket in caps else size
            for bucket, size in sizes.items()
        }
        if lowered == counts:
            return counts
        counts = lowered


def select(stats: list[QuestionStats], policy: CuratePolicy) -> Selection:
    """The questions GRPO trains on under `policy`: every bucket but the dropped ones, capped buckets subsampled
    (with the policy's seed, the same questions every run); in the questions' order. Fails when nothing is kept."""
    members: dict[str, list[str]] = {bucket: [] for bucket in BUCKETS}
    for s in stats:
        members[s.bucket].append(s.row_id)
    sizes = {bucket: len(ids) for bucket, ids in members.items()}
    if policy.keep_all:
        return Selection([s.row_id for s in stats], sizes, dict(sizes))
    eligible = {bucket: n for bucket, n in sizes.items() if bucket not in policy.drop}
    counts = capped_counts(eligible, dict(policy.max_share))
    chosen: set[str] = set()
    for bucket, n in counts.items():
        ids = members[bucket]
        # A string seed is hashed the same way in every process (unlike hash()), so the choice is reproducible.
        chosen.update(ids if n == len(ids) else random.Random(f"{policy.seed}:{bucket}").sample(sorted(ids), n))
    kept = [s.row_id for s in stats if s.row_id in chosen]
    if stats and not kept:
        raise CurationError(
            f"the curate policy ({policy.describe()}) keeps none of the {len(stats)} questions (buckets: "
            f"{', '.join(f'{b} {n}' for b, n in sizes.items())}); loosen curate.policy, e.g. drop fewer buckets, "
            "raise max_share, or set keep_all: true"
        )
    return Selection(kept, sizes, {bucket: counts.get(bucket, 0) for bucket in BUCKETS})
