"""A run plan: the recipe, the stages to run, which ignore their cache, and earlier results to reuse."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from knowrl import STAGES
from knowrl.config.recipe import Recipe, load_recipe
from knowrl.pipeline.refs import DataRef, GRPORef, StageRef, ref_from_dict
from knowrl.pipeline.stages import UPSTREAM, StageSelectionError, select_stages
from storage import Paths, open_warehouse
from storage.stage_runs import StageRuns


@dataclass
class RunPlan:
    """What a run does, and where it reads earlier results: `paths` is given by the caller (the flow or the CLI, from
    the environment there), never looked up here."""

    recipe_path: str
    recipe: Recipe
    selected: list[str]
    refresh: set[str]
    paths: Paths
    overrides: list[str] = field(default_factory=list)
    remote: set[str] = field(default_factory=set)

    @classmethod
    def create(
        cls,
        recipe_path: str,
        stages: list[str] | None = None,
        from_stage: str | None = None,
        overrides: list[str] | None = None,
        remote_stages: list[str] | None = None,
        *,
        paths: Paths,
    ) -> RunPlan:
        recipe = load_recipe(recipe_path, overrides)
        selected, refresh = select_stages(stages, from_stage)
        remote, _ = select_stages(remote_stages, None) if remote_stages else ([], set())
        return cls(recipe_path, recipe, selected, refresh, paths, list(overrides or []), set(remote))

    def config(self, stage: str) -> dict[str, Any]:
        return self.recipe.stage_config(stage).model_dump(mode="json")

    def upstream(self, stage: str, refs: dict[str, StageRef]) -> dict[str, dict[str, Any]]:
        """What a stage's task receives of the results before it: their JSON form (task parameters, cache keys)."""
        return {name: refs[name].model_dump(mode="json") for name in UPSTREAM[stage] if name in refs}

    def needed_as_upstream(self, stage: str) -> bool:
        """Whether a selected stage after this one reads this stage's result (directly or not)."""
        later = [s for s in self.selected if STAGES.index(s) > STAGES.index(stage)]
        needed: set[str] = set()
        frontier = list(later)
        while frontier:
            for upstream in UPSTREAM[frontier.pop()]:
                if upstream not in needed:
                    needed.add(upstream)
                    frontier.append(upstream)
        return stage in needed

    def _runs(self, runs: StageRuns | None) -> StageRuns:
        return runs if runs is not None else StageRuns(open_warehouse(self.paths))

    def previous_ref(self, stage: str, runs: StageRuns | None = None) -> StageRef:
        """The last completed result of a stage that is not selected, for the stages after it (from `runs`, or
        the warehouse under this plan's paths)."""
        previous = self._runs(runs).latest(stage, self.recipe.config_hash(stage))
        if previous is None:
            raise StageSelectionError(
                f"stage {stage!r} is not selected and has no completed run with this recipe's {stage} config; "
                f"add it to the stages to run (e.g. --stages {','.join(s for s in STAGES[: STAGES.index(stage) + 1])})"
            )
        return ref_from_dict(stage, previous["ref"])

    def should_stop_after_data(self, data_ref: DataRef | None, runs: StageRuns | None = None) -> bool:
        """Scheduled retraining: nothing to do when the RL data is a version already trained on."""
        if data_ref is None or "data" not in self.selected or not self.recipe.data.stop_when_unchanged:
            return False
        # The data task may be a cache hit, so compare with what the last completed training used.
        last = self._runs(runs).latest("grpo")
        return last is not None and trained_on(last["ref"]) == data_ref.rl.fingerprint


def trained_on(grpo_run_ref: dict[str, Any]) -> str | None:
    """The RL data fingerprint a recorded GRPO run trained on."""
    ref = ref_from_dict("grpo", grpo_run_ref)
    return ref.inputs.get("rl") if isinstance(ref, GRPORef) else None
