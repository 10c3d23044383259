"""The `knowrl` flow: six stages, each a cached, retriable task. Deployed as `knowrl/full` and per stage."""

from __future__ import annotations

import os

from prefect import flow, get_run_logger
from prefect.deployments import run_deployment

from knowrl.pipeline.plan import RunPlan
from knowrl.pipeline.refs import DataRef, StageRef
from storage import Paths
from tasks import STAGE_TASKS
from tasks.common import result_storage


def run_stage(stage: str, plan: RunPlan, refs: dict[str, StageRef]) -> None:
    """Run a selected stage as its task (a cache hit when nothing changed), or reuse its last result
    when a selected stage after it needs it; the result goes into `refs`."""
    if stage not in plan.selected:
        if plan.needed_as_upstream(stage):
            refs[stage] = plan.previous_ref(stage)
        return
    if stage in plan.remote:
        # Run on the stage's own deployment (e.g. on the gpu pool), as a linked subflow; it writes its
        # result to the shared warehouse, where this flow reads it back.
        parameters = {
            "recipe": plan.recipe_path,
            "stages": [stage],
            "overrides": plan.overrides,
            "from_stage": stage if stage in plan.refresh else None,
            "remote_stages": [],  # the stage runs right there, whatever that worker's KNOWRL_REMOTE_STAGES says
        }
        run = run_deployment(f"knowrl/{stage}", parameters=parameters, timeout=None)
        if not run.state or not run.state.is_completed():
            raise RuntimeError(f"stage {stage} on deployment knowrl/{stage} ended {run.state and run.state.name}")
        refs[stage] = plan.previous_ref(stage)
        return
    task = STAGE_TASKS[stage].with_options(result_storage=result_storage(), refresh_cache=stage in plan.refresh)
    extra = {"recipe": plan.recipe.model_dump(mode="json")} if stage == "publish" else {}
    refs[stage] = task(config=plan.recipe.stage_config(stage), upstream=plan.upstream(stage, refs), **extra)


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
    plan = RunPlan.create(recipe, stages, from_stage, overrides, remote_stages, paths=Paths.from_env())
    refs: dict[str, StageRef] = {}
    run_stage("data", plan, refs)
    data = refs.get("data")
    if isinstance(data, DataRef) and plan.should_stop_after_data(data):
        get_run_logger().info("data fingerprint %s is unchanged: nothing to retrain", data.fingerprint)
        return refs
    run_stage("knowledge", plan, refs)
    run_stage("sft", plan, refs)
    run_stage("grpo", plan, refs)
    run_stage("evaluate", plan, refs)
    run_stage("publish", plan, refs)
    return refs
