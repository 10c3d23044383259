"""Which stages of a recipe a run would reuse: the stage's full cache key now against the recorded runs.

A stage is cached only when a completed run has the key a run would compute now (the key the stage's task gives
Prefect): its config, its upstream stages' fingerprints (from the runs that would themselves be reused), the code
version of its library packages and its outside inputs (the data sources as they are now, publish's token
presence). Read-only: nothing here creates or writes a warehouse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from knowrl import STAGES
from knowrl.config.recipe import Recipe
from knowrl.errors import KnowrlError
from knowrl.pipeline.plan import RunPlan
from knowrl.pipeline.refs import DataRef, StageRef, ref_from_dict
from knowrl.pipeline.stages import UPSTREAM, StageSelectionError, cache_key, key_inputs
from storage.stage_runs import StageRuns


@dataclass(frozen=True)
class StageStatus:
    stage: str
    last: dict[str, Any] | None  # the stage's last completed run, whatever its key
    cached: dict[str, Any] | None  # the completed run a run of the recipe now would reuse, if any
    reason: str  # why it is not cached ("" when it is)

    @property
    def ref(self) -> StageRef | None:
        run = self.cached or self.last
        return ref_from_dict(self.stage, run["ref"]) if run else None


def _why_not(stage: str, recipe: Recipe, last: dict[str, Any], missing: list[str]) -> str:
    if last["config_hash"] != recipe.config_hash(stage):
        return "config changed"
    if missing:
        return f"{', '.join(missing)} will run first"
    return "inputs or code changed"


def stage_statuses(recipe: Recipe, runs: StageRuns) -> list[StageStatus]:
    """Each stage in order: its last run, and the run a run of `recipe` would reuse (the same full cache key)."""
    reused: dict[str, dict[str, Any]] = {}
    statuses = []
    for stage in STAGES:
        last = runs.latest(stage)
        if last is None:
            statuses.append(StageStatus(stage, None, None, "never run"))
            continue
        # An upstream stage that would run again may produce other fingerprints: this stage's key is unknown until
        # then, so it is not reported as cached.
        missing = [name for name in UPSTREAM[stage] if name not in reused]
        config = recipe.stage_config(stage).model_dump(mode="json")
        if missing:
            statuses.append(StageStatus(stage, last, None, _why_not(stage, recipe, last, missing)))
            continue
        try:
            extra = key_inputs(stage, config)
        except KnowrlError as exc:  # e.g. a Hub source that cannot be reached now
            statuses.append(StageStatus(stage, last, None, f"unknown: {exc}"))
            continue
        key = cache_key(stage, config, {name: reused[name] for name in UPSTREAM[stage]}, extra)
        match = last if last["cache_key"] == key else runs.latest(stage, cache_key=key)
        if match is None:
            statuses.append(StageStatus(stage, last, None, _why_not(stage, recipe, last, [])))
            continue
        reused[stage] = match["ref"]
        statuses.append(StageStatus(stage, last, match, ""))
    return statuses


def cached_run(plan: RunPlan, runs: StageRuns, has_result: Callable[[str], bool]) -> dict[str, StageRef] | None:
    """What a run of `plan` returns when every stage it would run is a cache hit, walking the stages as the flow
    does (flows/knowrl_flow.py: unselected stages' last results, the stop when the data is unchanged); None as
    soon as one stage would compute, or when the plan needs the orchestrator (a stage to refresh or to run on its
    deployment). `has_result(key)`: whether the orchestrator still holds the result cached under `key`."""
    if plan.refresh or plan.remote:
        return None
    refs: dict[str, StageRef] = {}
    for stage in STAGES:
        if stage not in plan.selected:
            if plan.needed_as_upstream(stage):
                try:
                    refs[stage] = plan.previous_ref(stage, runs)
                except StageSelectionError:
                    return None  # the flow reports that it is missing
            continue
        if runs.latest(stage, plan.recipe.config_hash(stage)) is None:
            return None  # never run with this config: no need to probe its inputs (hash files, ask the Hub)
        config = plan.config(stage)
        key = cache_key(stage, config, plan.upstream(stage, refs), key_inputs(stage, config))
        run = runs.latest(stage, cache_key=key)
        if run is None or not has_result(key):
            return None
        ref = refs[stage] = ref_from_dict(stage, run["ref"])
        if isinstance(ref, DataRef) and plan.should_stop_after_data(ref, runs):
            return refs  # the flow stops here: nothing to retrain
    return refs
