"""Prefect task of the GRPO stage."""

from __future__ import annotations

from typing import Any

from prefect import task

from knowrl.config.stages import GRPOStageConfig
from knowrl.stages import code_version
from tasks.common import RETRY_DELAYS, finish, key_fn, make_context, md_table, retry_on_io
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


@task(
    name="grpo",
    cache_key_fn=key_fn("grpo"),
    persist_result=True,
    retries=2,
    retry_delay_seconds=RETRY_DELAYS,
    retry_condition_fn=retry_on_io,
    tags=["gpu"],
)
def grpo_stage(config: dict[str, Any], upstream: dict[str, Any]) -> dict[str, Any]:
    # Imported when the stage computes, not when the flow loads: a cached run never imports torch or TRL.
    from knowrl.train.grpo import run_grpo_stage
    from knowrl.train.launch import gpus_to_launch, run_distributed

    ctx = make_context("grpo")
    drills = maybe_inject_failure("grpo", ctx)  # failure drills (KNOWRL_INJECT_FAILURE)
    cfg = GRPOStageConfig.model_validate(config)
    processes = gpus_to_launch(cfg.deepspeed)
    if processes:  # several GPUs and a ZeRO config: accelerate launch, one process per GPU
        ref = run_distributed("grpo", config, upstream, code_version("grpo"), processes, cfg.deepspeed)
    else:
        ref = run_grpo_stage(cfg, upstream, ctx, code_version("grpo"), extra_callbacks=drills)
    publish_curve("grpo", ctx, ref["run_key"], CURVE)
    metrics = {k: v for k, v in ref["metrics"].items() if not isinstance(v, dict)}
    summary = f"# GRPO\n\n{md_table([metrics])}\n\nmodel: `{ref['model_path']}`\n\ncurves: `{ref['curves_png']}`\n"
    return finish("grpo", ctx, config, upstream, ref, summary)
