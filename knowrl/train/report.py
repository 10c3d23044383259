"""What the training stages show in the orchestrator: their metrics and training curves (from the warehouse)."""

from __future__ import annotations

import itertools
import math

from knowrl.pipeline.report import md_table, scalar_metrics
from knowrl.pipeline.runtime import StageContext
from knowrl.pipeline.spec import StageReport
from knowrl.train.health import MONITOR_KEYS, HealthConfig, describe_limit
from knowrl.train.result import GRPORef, HealthStop, SFTRef
from storage.training_logs import TrainingLogs

SFT_CURVE = ["loss", "mean_token_accuracy"]
GRPO_CURVE = [
    "reward",
    "rewards/format/mean",
    "rewards/combined/mean",
    "knowrl/refusal_rate",
    "knowrl/supported_share",
    "knowrl/judge_failures",
    "knowrl/abstention_rate",
    "knowrl/facts_per_completion",
    "knowrl/grade_support_disagreement",
    "knowrl/reward_failure_rate",
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


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int = 40) -> str:
    """The values as a line of block characters (bucket means when there are more than `width`)."""
    if not values:
        return ""
    if len(values) > width:
        edges = [round(i * len(values) / width) for i in range(width + 1)]
        values = [sum(values[a:b]) / (b - a) for a, b in itertools.pairwise(edges) if b > a]
    low, high = min(values), max(values)
    span = high - low
    return "".join(SPARK[0 if span == 0 else min(7, int((v - low) / span * 8))] for v in values)


def _fmt(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.3g}"


def monitors_section(
    ctx: StageContext, run_key: str, health: HealthConfig, stopped: HealthStop | None
) -> tuple[str, list[dict[str, float]]]:
    """The reward-hacking monitors of a GRPO run as Markdown (a row per monitor with its limit and a sparkline,
    and the stop when a limit tripped) and as a table of one row per logged step."""
    logs = TrainingLogs(ctx.warehouse)
    series = {name: logs.series(run_key, key) for name, key in MONITOR_KEYS.items()}
    rows = []
    for name, points in series.items():
        values = [v for _, v in points]
        rows.append(
            {
                "monitor": name,
                "limit": describe_limit(getattr(health, name)),
                "first": _fmt(values[0] if values else None),
                "last": _fmt(values[-1] if values else None),
                "min": _fmt(min(values) if values else None),
                "max": _fmt(max(values) if values else None),
                "steps": len(values),
                "trend": f"`{sparkline(values)}`" if values else "not measured",
            }
        )
    if stopped is not None:
        kept = f"`{stopped.checkpoint}`" if stopped.checkpoint else "none (no checkpoint was saved before the trip)"
        head = (
            f"**STOPPED** ({'the stage failed' if stopped.on_trip == 'fail' else 'completed with a warning'}, "
            f"grpo.health.on_trip: {stopped.on_trip}): {stopped.line()}. Kept checkpoint: {kept}.\n\n"
        )
    else:
        head = "No health limit tripped.\n\n" if health.limits() else "No health limits set (grpo.health).\n\n"
    markdown = f"## Reward-hacking monitors\n\n{head}{md_table(rows)}\n"
    steps = sorted({s for points in series.values() for s, _ in points})
    by_step = {name: dict(points) for name, points in series.items()}
    table = [
        {"step": s, **{name: round(by_step[name].get(s, float("nan")), 4) for name in MONITOR_KEYS}} for s in steps
    ]
    return markdown, table


def stopped_report(ctx: StageContext, run_key: str, health: HealthConfig, stopped: HealthStop) -> StageReport:
    """What a GRPO run that a health limit stopped shows when the stage fails (grpo.health.on_trip: fail)."""
    section, table = monitors_section(ctx, run_key, health, stopped)
    tables = {**_tables("grpo", curve_rows(ctx, run_key, GRPO_CURVE))}
    if table:
        tables["knowrl-grpo-monitors"] = table
    return StageReport(f"# GRPO (stopped)\n\nrun: `{run_key}`\n\n{section}", tables=tables)


def grpo_report(ref: GRPORef, ctx: StageContext) -> StageReport:
    health = HealthConfig.model_validate((ref.metrics.get("health") or {}).get("config") or {})
    section, table = monitors_section(ctx, ref.run_key, health, ref.stopped)
    markdown = (
        f"# GRPO\n\n{md_table([scalar_metrics(ref.metrics)])}\n\nmodel: `{ref.model_path}`\n\n"
        f"curves: `{ref.curves_png}`\n\n{section}"
    )
    tables = _tables("grpo", curve_rows(ctx, ref.run_key, GRPO_CURVE))
    if table:
        tables["knowrl-grpo-monitors"] = table
    return StageReport(markdown, tables=tables)
