"""What the training stages show in the orchestrator: their metrics and training curves (from the warehouse)."""

from __future__ import annotations

from knowrl.pipeline.report import md_table, scalar_metrics
from knowrl.pipeline.runtime import StageContext
from knowrl.pipeline.spec import StageReport
from knowrl.train.result import GRPORef, SFTRef
from storage.training_logs import TrainingLogs

SFT_CURVE = ["loss", "mean_token_accuracy"]
GRPO_CURVE = [
    "reward",
    "rewards/format/mean",
    "rewards/combined/mean",
    "knowrl/refusal_rate",
    "knowrl/supported_share",
    "knowrl/judge_failures",
    "kl",
    "completions/mean_length",
]


def curve_rows(ctx: StageContext, run_key: str, metrics: list[str]) -> list[dict[str, float]]:
    """One row per logged step with each metric (NaN where a step did not log it)."""
    logs = TrainingLogs(ctx.warehouse)
    series = {m: dict(logs.series(run_key, m)) for m in metrics}
    steps = sorted({s for values in series.values() for s in values})
    return [{"step": s, **{m: round(series[m].get(s, float("nan")), 4) for m in metrics}} for s in steps]


def _tables(stage: str, rows: list[dict[str, float]]) -> dict[str, list[dict[str, float]]]:
    return {f"knowrl-{stage}-curve": rows} if rows else {}


def sft_report(ref: SFTRef, ctx: StageContext) -> StageReport:
    markdown = f"# SFT\n\n{md_table([scalar_metrics(ref.metrics)])}\n\nmodel: `{ref.model_path}`\n"
    return StageReport(markdown, tables=_tables("sft", curve_rows(ctx, ref.run_key, SFT_CURVE)))


def grpo_report(ref: GRPORef, ctx: StageContext) -> StageReport:
    markdown = (
        f"# GRPO\n\n{md_table([scalar_metrics(ref.metrics)])}\n\nmodel: `{ref.model_path}`\n\n"
        f"curves: `{ref.curves_png}`\n"
    )
    return StageReport(markdown, tables=_tables("grpo", curve_rows(ctx, ref.run_key, GRPO_CURVE)))
