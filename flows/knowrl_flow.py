"""The `knowrl` flow: six stages, each a cached, retriable task. Deployed as `knowrl/full` and per stage."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from knowrl.plan import RunPlan
from storage import Paths
from tasks import STAGE_TASKS


def run_stage(stage: str, plan: RunPlan, refs: dict[str, dict[str, Any]]) -> None:
    """Run a selected stage as its task (a cache hit when nothing changed), or reuse its last result
    when a selected stage after it needs it; the result goes into `refs`."""
    if stage not in plan.selected:
        if plan.needed_as_upstream(stage):
            refs[stage] = plan.previous_ref(stage)
        return
    # A Path (not an unsaved block) is accepted by Prefect as local result storage, server or not.
    storage = Paths.from_env().ensure().prefect_results
    task = STAGE_TASKS[stage].with_options(result_storage=storage, refresh_cache=stage in plan.refresh)
    extra = {"recipe": plan.recipe.model_dump(mode="json")} if stage == "publish" else {}
    refs[stage] = task(config=plan.config(stage), upstream=plan.upstream(stage, refs), **extra)


@flow(name="knowrl")
def knowrl(
    recipe: str = "recipes/demo.yaml",
    stages: list[str] | None = None,
    from_stage: str | None = None,
    overrides: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    plan = RunPlan.create(recipe, stages, from_stage, overrides)
    refs: dict[str, dict[str, Any]] = {}
    run_stage("data", plan, refs)
    if plan.should_stop_after_data(refs.get("data")):
        get_run_logger().info("data fingerprint %s is unchanged: nothing to retrain", refs["data"]["fingerprint"])
        return refs
    run_stage("knowledge", plan, refs)
    run_stage("sft", plan, refs)
    run_stage("grpo", plan, refs)
    run_stage("evaluate", plan, refs)
    run_stage("publish", plan, refs)
    return refs
