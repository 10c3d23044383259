"""Prefect task of the GRPO stage."""

from __future__ import annotations

from typing import Any

from knowrl.config.stages import GRPOStageConfig
from knowrl.pipeline.refs import GRPORef, refs_from_dicts
from tasks.common import finish, make_context, md_table, stage_task
from tasks.training import maybe_inject_failure, publish_curve

CURVE = [
    "reward",
    "rewards/format/mean",
    "rewards/combined/mean",
    "knowrl/refusal_rate",
    "knowrl/supported_share",
    "knowrl/judge_failures",
    "kl",
    "completions/mean_length",
]


@stage_task("grpo", retries=2, gpu=True)
def grpo_stage(config: GRPOStageConfig, upstream: dict[str, Any]) -> GRPORef:
    # Imported when the stage computes, not when the flow loads: a cached run never imports torch or TRL.
    from knowrl.train.launch import run_training_stage

    ctx = make_context("grpo")
    drills = maybe_inject_failure("grpo", ctx)  # failure drills (KNOWRL_INJECT_FAILURE)
    ref = run_training_stage("grpo", config, refs_from_dicts(upstream), ctx, drills)
    assert isinstance(ref, GRPORef)
    publish_curve("grpo", ctx, ref.run_key, CURVE)
    metrics = {k: v for k, v in ref.metrics.items() if not isinstance(v, dict)}
    summary = f"# GRPO\n\n{md_table([metrics])}\n\nmodel: `{ref.model_path}`\n\ncurves: `{ref.curves_png}`\n"
    return finish("grpo", ctx, config, upstream, ref, summary)
