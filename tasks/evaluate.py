"""Prefect task of the evaluate stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from knowrl.config.stages import EvaluateConfig
from knowrl.pipeline.refs import EvaluateRef, refs_from_dicts
from tasks.common import finish, make_context, stage_task
from tasks.training import maybe_inject_failure


@stage_task("evaluate", retries=2, gpu=True)
def evaluate_stage(config: EvaluateConfig, upstream: dict[str, Any]) -> EvaluateRef:
    # Imported when the stage computes, not when the flow loads: a cached run never imports torch or TRL.
    from knowrl.evaluate.stage import run_evaluate_stage

    ctx = make_context("evaluate")
    maybe_inject_failure("evaluate", ctx)
    ref = run_evaluate_stage(config, refs_from_dicts(upstream), ctx)
    report = Path(ref.report_path).read_text()
    return finish("evaluate", ctx, config, upstream, ref, report + f"\n\nchart: `{ref.chart_path}`\n")
