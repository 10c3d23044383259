"""Prefect task of the cold-start SFT stage."""

from __future__ import annotations

from typing import Any

from prefect import task

from knowrl.config.stages import SFTStageConfig
from knowrl.stages import code_version
from tasks.common import RETRY_DELAYS, finish, key_fn, make_context, md_table, retry_on_io
from tasks.training import maybe_inject_failure, publish_curve


@task(
    name="sft",
    cache_key_fn=key_fn("sft"),
    persist_result=True,
    retries=2,
    retry_delay_seconds=RETRY_DELAYS,
    retry_condition_fn=retry_on_io,
    tags=["gpu"],
)
def sft_stage(config: dict[str, Any], upstream: dict[str, Any]) -> dict[str, Any]:
    # Imported when the stage computes, not when the flow loads: a cached run never imports torch or TRL.
    from knowrl.train.launch import gpus_to_launch, run_distributed
    from knowrl.train.sft import run_sft_stage

    ctx = make_context("sft")
    drills = maybe_inject_failure("sft", ctx)  # failure drills (KNOWRL_INJECT_FAILURE)
    cfg = SFTStageConfig.model_validate(config)
    processes = gpus_to_launch(cfg.deepspeed)
    if processes:  # several GPUs and a ZeRO config: accelerate launch, one process per GPU
        ref = run_distributed("sft", config, upstream, code_version("sft"), processes, cfg.deepspeed)
    else:
        ref = run_sft_stage(cfg, upstream["data"], ctx, code_version("sft"), extra_callbacks=drills)
    publish_curve("sft", ctx, ref["run_key"], ["loss", "mean_token_accuracy"])
    metrics = {k: v for k, v in ref["metrics"].items() if not isinstance(v, dict)}
    return finish(
        "sft", ctx, config, upstream, ref, f"# SFT\n\n{md_table([metrics])}\n\nmodel: `{ref['model_path']}`\n"
    )
