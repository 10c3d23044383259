"""How the flow runs one stage of a plan: as its task in this flow run, or on the stage's own deployment (e.g. the
gpu pool) as a linked subflow, whose result it then reads back from the shared warehouse."""

from __future__ import annotations

from prefect.deployments import run_deployment

from knowrl.pipeline.plan import RunPlan, Step
from knowrl.pipeline.refs import StageRef
from tasks import STAGE_TASKS
from tasks.stage_task import result_storage


def stage_runner(plan: RunPlan):
    """The walk's `execute` for a flow run of `plan`."""
    recipe = plan.recipe.model_dump(mode="json")

    def run(step: Step) -> StageRef:
        if step.remote:
            return run_on_deployment(plan, step)
        task = STAGE_TASKS[step.name].with_options(result_storage=result_storage(), refresh_cache=step.refresh)
        return task(config=step.config, upstream=step.upstream, recipe=recipe if step.spec.needs_recipe else None)

    return run


def run_on_deployment(plan: RunPlan, step: Step) -> StageRef:
    """Run the stage on its deployment `knowrl/<stage>` and wait; its result is the stage's last recorded run."""
    parameters = {
        "recipe": plan.recipe_path,
        "stages": [step.name],
        "overrides": plan.overrides,
        "from_stage": step.name if step.refresh else None,
        "remote_stages": [],  # the stage runs right there, whatever that worker's KNOWRL_REMOTE_STAGES says
    }
    run = run_deployment(f"knowrl/{step.name}", parameters=parameters, timeout=None)
    if not run.state or not run.state.is_completed():
        raise RuntimeError(f"stage {step.name} on deployment knowrl/{step.name} ended {run.state and run.state.name}")
    return plan.previous_ref(step.name)
