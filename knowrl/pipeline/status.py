"""Which stages of a recipe a run would reuse: the stage's full cache key now against the recorded runs.

A stage is cached only when a completed run has the key a run would compute now (the key the stage's task gives
Prefect): its config, its upstream stages' fingerprints (from the runs that would themselves be reused), the code
version of its library packages and its outside inputs (the data sources as they are now, publish's token
presence). Both views walk the stages as the flow does (`RunPlan.walk`). Read-only: nothing here creates or writes
a warehouse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from knowrl.errors import KnowrlError
from knowrl.pipeline.keys import stage_key
from knowrl.pipeline.plan import RunPlan, Step
from knowrl.pipeline.refs import StageRef
from knowrl.pipeline.spec import StageSelectionError
from storage.stage_runs import StageRuns


@dataclass(frozen=True)
class StageStatus:
    stage: str
    last: dict[str, Any] | None  # the stage's last completed run, whatever its key
    cached: dict[str, Any] | None  # the completed run a run of the recipe now would reuse, if any
    reason: str  # why it is not cached ("" when it is)
    ref: StageRef | None  # the result of `cached`, else of `last`


def stage_statuses(plan: RunPlan, runs: StageRuns) -> list[StageStatus]:
    """Each stage of a full run of the plan's recipe, in order: its last run, and the run it would reuse."""
    statuses: list[StageStatus] = []

    def check(step: Step) -> StageRef | None:
        last = runs.latest(step.name)
        if last is None:
            statuses.append(StageStatus(step.name, None, None, "never run", None))
            return None
        last_ref = plan.registry.result(step.name, last["ref"])
        # An upstream stage that would run again may produce other fingerprints: this stage's key is unknown until
        # then, so it is not reported as cached.
        missing = [u for u in step.spec.upstream_stages if u not in step.upstream]
        config_changed = last["config_hash"] != plan.recipe.config_hash(step.name)
        if missing:
            reason = "config changed" if config_changed else f"{', '.join(missing)} will run first"
            statuses.append(StageStatus(step.name, last, None, reason, last_ref))
            return None
        try:
            key = stage_key(step.spec, step.config, step.upstream)
        except KnowrlError as exc:  # e.g. a Hub source that cannot be reached now
            statuses.append(StageStatus(step.name, last, None, f"unknown: {exc}", last_ref))
            return None
        match = last if last["cache_key"] == key else runs.latest(step.name, cache_key=key)
        if match is None:
            reason = "config changed" if config_changed else "inputs or code changed"
            statuses.append(StageStatus(step.name, last, None, reason, last_ref))
            return None
        ref = plan.registry.result(step.name, match["ref"])
        statuses.append(StageStatus(step.name, last, match, "", ref))
        return ref

    full = RunPlan(plan.registry, plan.recipe_path, plan.recipe, list(plan.registry.names), set(), plan.paths)
    full.walk(check, runs, stops=False).rest()
    return statuses


def cached_run(plan: RunPlan, runs: StageRuns, has_result: Callable[[str], bool]) -> dict[str, StageRef] | None:
    """What a run of `plan` returns when every stage it would run is a cache hit (the same walk as the flow's:
    unselected stages' last results, the stop when the data is unchanged); None as soon as one stage would compute,
    or when the plan needs the orchestrator (a stage to refresh or to run on its deployment). `has_result(key)`:
    whether the orchestrator still holds the result cached under `key`."""
    if plan.refresh or plan.remote:
        return None
    computes: list[str] = []

    def hit(step: Step) -> StageRef | None:
        if computes:
            return None  # a stage before would compute: no need to probe this one's inputs
        if runs.latest(step.name, plan.recipe.config_hash(step.name)) is None:
            computes.append(step.name)  # never run with this config: no need to probe its inputs (hash files, Hub)
            return None
        key = stage_key(step.spec, step.config, step.upstream)
        run = runs.latest(step.name, cache_key=key)
        if run is None or not has_result(key):
            computes.append(step.name)
            return None
        return plan.registry.result(step.name, run["ref"])

    try:
        refs = plan.walk(hit, runs).rest()
    except StageSelectionError:
        return None  # a needed upstream result is missing: the flow reports it
    return None if computes else refs
