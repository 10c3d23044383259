"""The `knowrl` flow: the stages in order, each a cached, retriable task. Deployed as `knowrl/full` and per stage."""

from __future__ import annotations

import os

from prefect import flow, get_run_logger

from knowrl.pipeline.plan import RunPlan
from knowrl.pipeline.refs import StageRef
from knowrl.registry import REGISTRY
from storage import Paths
from tasks.dispatch import stage_runner


@flow(name="knowrl")
def knowrl(
    recipe: str = "recipes/demo.yaml",
    stages: list[str] | None = None,
    from_stage: str | None = None,
    overrides: list[str] | None = None,
    remote_stages: list[str] | None = None,
) -> dict[str, StageRef]:
    """Run the pipeline. `stages` selects stages (the others' last results are reused), `from_stage` re-runs
    that stage and the ones after it, `overrides` are `section.key=value`, and `remote_stages` (e.g.
    ["sft", "grpo", "evaluate"]) runs those stages on their own deployments, i.e. on the gpu work pool; left
    unset, it is read from the worker's `KNOWRL_REMOTE_STAGES` (comma-separated), so a cluster's cpu worker sends
    the GPU stages to the gpu pool without every run naming them."""
    if remote_stages is None:
        remote_stages = [s.strip() for s in os.environ.get("KNOWRL_REMOTE_STAGES", "").split(",") if s.strip()]
    plan = RunPlan.create(REGISTRY, recipe, stages, from_stage, overrides, remote_stages, paths=Paths.from_env())
    plan.preflight()  # e.g. TRL's option names: fail in seconds, before any stage computes
    run = plan.walk(stage_runner(plan))
    run.stage("data")
    run.stage("knowledge")
    run.stage("sft")
    run.stage("curate")
    run.stage("grpo")
    run.stage("evaluate")
    run.stage("publish")
    if run.stopped:
        get_run_logger().info(run.stopped)
    return run.results()
