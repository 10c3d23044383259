"""What the curate stage shows: the buckets' sizes and how many of each GRPO trains on, the policy, and a few
questions of each bucket (the report file in its artifact, and the stage's Prefect artifacts)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from knowrl.curate.config import BUCKETS, CurateConfig
from knowrl.curate.result import CurateRef
from knowrl.pipeline.report import md_table
from knowrl.pipeline.runtime import StageContext
from knowrl.pipeline.spec import StageReport

if TYPE_CHECKING:
    from knowrl.curate.buckets import QuestionStats, Selection

MEANING = {
    "always_correct": "right in every sample",
    "sometimes": "right in some samples",
    "never_correct": "attempted, never right",
    "always_refused": "never attempted (refused or no answer)",
}
EXAMPLES = 3  # questions shown per bucket


def bucket_rows(sizes: dict[str, int], kept: dict[str, int]) -> list[dict[str, Any]]:
    """One row per bucket: its size, how many GRPO trains on, and what it means."""
    return [
        {"bucket": b, "questions": sizes.get(b, 0), "kept": kept.get(b, 0), "meaning": MEANING[b]} for b in BUCKETS
    ]


def markdown_report(
    cfg: CurateConfig,
    stats: list[QuestionStats],
    selection: Selection,
    metrics: dict[str, Any],
) -> str:
    """The report file: only what the samples and the policy decide (no call counts or timings), so the same
    samples and policy make the same artifact, and GRPO's cache key does not change."""
    n = len(stats)
    lines = [
        "# Curation: the SFT model's knowledge boundary",
        "",
        f"**GRPO trains on {len(selection.kept)} of {n} questions** (policy: {cfg.policy.describe()}).",
        "",
        f"Each question answered {cfg.k} times (temperature {cfg.temperature}, top-p {cfg.top_p}, up to "
        f"{cfg.max_new_tokens} new tokens, prompted as `{cfg.prompt_style}`), graded by the `{cfg.judge.backend}` "
        "judge. Mean pass rate {:.3f}, refusal rate {:.3f}, answer agreement {:.3f}.".format(
            metrics["mean_pass_rate"], metrics["mean_refusal_rate"], metrics["mean_agreement"]
        ),
        "",
        md_table(bucket_rows(selection.sizes, selection.kept_by_bucket)),
        "",
    ]
    kept = set(selection.kept)
    for bucket in BUCKETS:
        members = [s for s in stats if s.bucket == bucket][:EXAMPLES]
        if members:
            lines.append(
                f"**{bucket}**, e.g.: "
                + "; ".join(
                    f"{s.question} ({s.correct}/{s.samples} right{', kept' if s.row_id in kept else ''})"
                    for s in members
                )
            )
            lines.append("")
    return "\n".join(lines) + "\n"


def curate_report(ref: CurateRef, ctx: StageContext) -> StageReport:
    if not ref.enabled:
        return StageReport("# Curation\n\nOff: GRPO trains on every RL row (`curate.enabled: false`).\n")
    markdown = (
        f"# Curation\n\nGRPO trains on {ref.kept} of {ref.questions} questions (policy: {ref.policy}; {ref.k} "
        f"samples per question{', from the warehouse' if ref.cache_hit else ''}).\n\n"
        f"{md_table(bucket_rows(ref.buckets, ref.kept_by_bucket))}\n\nreport: `{ref.report_path}`\n"
    )
    return StageReport(markdown, tables={"knowrl-curate-buckets": bucket_rows(ref.buckets, ref.kept_by_bucket)})
