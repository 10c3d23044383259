"""Prefect task of the cold-start SFT stage."""

from __future__ import annotations

from typing import Any

from knowrl.config.stages import SFTStageConfig
from knowrl.pipeline.refs import SFTRef, refs_from_dicts
from tasks.common import finish, make_context, md_table, stage_task
from tasks.training import maybe_inject_failure, publish_curve


@stage_task("sft", retries=2, gpu=True)
def sft_stage(config: SFTStageConfig, upstream: dict[str, Any]) -> SFTRef:
    # Imported when the stage computes, not when the flow loads: a cached run never imports torch or TRL.
    from knowrl.train.launch import run_training_stage

    ctx = make_context("sft")
    drills = maybe_inject_failure("sft", ctx)  # failure drills (KNOWRL_INJECT_FAILURE)
    ref = run_training_stage("sft", config, refs_from_dicts(upstream), ctx, drills)
    assert isinstance(ref, SFTRef)
    publish_curve("sft", ctx, ref.run_key, ["loss", "mean_token_accuracy"])
    metrics = {k: v for k, v in ref.metrics.items() if not isinstance(v, dict)}
    return finish("sft", ctx, config, upstream, ref, f"# SFT\n\n{md_table([metrics])}\n\nmodel: `{ref.model_path}`\n")
