"""What the two training tasks share: failure injection for drills, curves as Prefect artifacts."""

from __future__ import annotations

import os
from pathlib import Path

from prefect.artifacts import create_table_artifact

from knowrl.runtime import StageContext
from storage.training_logs import TrainingLogs


class InjectedFailure(RuntimeError):
    """Raised once by a stage named in KNOWRL_INJECT_FAILURE, for failure-and-rerun drills and tests."""


def maybe_inject_failure(stage: str, ctx: StageContext) -> None:
    """`KNOWRL_INJECT_FAILURE=grpo` makes the grpo stage fail once (a marker under KNOWRL_HOME remembers)."""
    if stage not in (os.environ.get("KNOWRL_INJECT_FAILURE") or "").split(","):
        return
    marker = Path(ctx.paths.root) / f".injected-failure-{stage}"
    if not marker.exists():
        marker.write_text("failed once")
        raise InjectedFailure(f"injected failure in stage {stage} (KNOWRL_INJECT_FAILURE); re-run to continue")


def publish_curve(stage: str, ctx: StageContext, run_key: str, metrics: list[str]) -> None:
    logs = TrainingLogs(ctx.warehouse)
    series = {m: dict(logs.series(run_key, m)) for m in metrics}
    steps = sorted({s for values in series.values() for s in values})
    rows = [{"step": s, **{m: round(series[m].get(s, float("nan")), 4) for m in metrics}} for s in steps]
    if rows:
        create_table_artifact(rows, key=f"knowrl-{stage}-curve", description=f"{stage} training curve")
