"""A run plan and its walk over the stages: one walk serves the flow, `knowrl status` and the cached-run check.

The plan holds what a run does (the recipe, the stages to run, which ignore their cache, which run on their own
deployment) and where it reads earlier results. `RunPlan.walk(execute)` visits the stages in the registry's order:
a stage that is not selected hands its last result to the stages after it when they need it; a selected one is
given to `execute` (the flow runs its task, `status` compares cache keys); a stage whose spec has a `stop_reason`
can end the run there (scheduled retraining on data already trained on).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from knowrl.config.recipe import RecipeBase, load_recipe
from knowrl.hashing import stable_hash
from knowrl.pipeline.keys import code_version
from knowrl.pipeline.refs import StageRef
from knowrl.pipeline.spec import Registry, StageSelectionError, StageSpec
from storage import Paths, open_warehouse
from storage.stage_runs import StageRuns


@dataclass(frozen=True)
class Step:
    """One selected stage as the walk hands it to `execute`."""

    spec: StageSpec
    config: BaseModel
    upstream: dict[str, StageRef]  # the results it reads, by stage
    refresh: bool  # ignore the cache (from_stage onwards)
    remote: bool  # run on the stage's own deployment

    @property
    def name(self) -> str:
        return self.spec.name


Execute = Callable[[Step], StageRef | None]


@dataclass
class RunPlan:
    """What a run does, and where it reads earlier results: `paths` is given by the caller (the flow or the CLI, from
    the environment there), never looked up here."""

    registry: Registry
    recipe_path: str
    recipe: RecipeBase
    selected: list[str]
    refresh: set[str]
    paths: Paths
    overrides: list[str] = field(default_factory=list)
    remote: set[str] = field(default_factory=set)

    @classmethod
    def create(
        cls,
        registry: Registry,
        recipe_path: str,
        stages: list[str] | None = None,
        from_stage: str | None = None,
        overrides: list[str] | None = None,
        remote_stages: list[str] | None = None,
        *,
        paths: Paths,
    ) -> RunPlan:
        recipe = load_recipe(registry, recipe_path, overrides)
        selected, refresh = registry.select(stages, from_stage)
        remote, _ = registry.select(remote_stages, None) if remote_stages else ([], set())
        return cls(registry, str(recipe_path), recipe, selected, refresh, paths, list(overrides or []), set(remote))

    def config(self, stage: str) -> BaseModel:
        return self.recipe.stage_config(stage)

    def needed_as_upstream(self, stage: str) -> bool:
        """Whether a selected stage after this one reads this stage's result (directly or not)."""
        position = self.registry.index(stage)
        frontier = [s for s in self.selected if self.registry.index(s) > position]
        needed: set[str] = set()
        while frontier:
            for upstream in self.registry[frontier.pop()].upstream_stages:
                if upstream not in needed:
                    needed.add(upstream)
                    frontier.append(upstream)
        return stage in needed

    def runs(self) -> StageRuns:
        return StageRuns(open_warehouse(self.paths))

    def off_ref(self, stage: str) -> StageRef | None:
        """The result of a stage this recipe turns off (its spec's `off`), or None when it is on."""
        spec = self.registry[stage]
        return spec.call("off", self.config(stage)) if spec.off else None

    def previous_ref(self, stage: str, runs: StageRuns | None = None) -> StageRef:
        """The last completed result of a stage that is not selected, for the stages after it (an off stage's result
        from its config: it needs no stored run)."""
        off = self.off_ref(stage)
        if off is not None:
            return off
        previous = (runs or self.runs()).latest(stage, self.recipe.config_hash(stage))
        if previous is None:
            upto = ",".join(self.registry.names[: self.registry.index(stage) + 1])
            raise StageSelectionError(
                f"stage {stage!r} is not selected and has no completed run with this recipe's {stage} config; "
                f"add it to the stages to run (e.g. --stages {upto})"
            )
        return self.registry.result(stage, previous["ref"])

    def preflight(self) -> None:
        """The checks of every selected stage that must pass before any stage computes (e.g. TRL's option names):
        called by the flow, and by `knowrl run` before it starts Prefect. A check that passed is remembered under
        KNOWRL_HOME by the stage's config, code version and the versions of what it checks against (the spec's
        `preflight_depends`), and written only once every check passed."""
        passed = []
        for name in self.selected:
            spec = self.registry[name]
            if not spec.preflight:
                continue
            versions = {dist: importlib.metadata.version(dist) for dist in spec.preflight_depends}
            key = stable_hash([self.config(name).model_dump(mode="json"), code_version(spec), versions])
            marker = self.paths.root / "preflight" / f"{name}-{key}"
            if not marker.exists():
                spec.call("preflight", self.config(name))
                passed.append(marker)
        for marker in passed:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text("passed")

    def walk(self, execute: Execute, runs: StageRuns | None = None, *, stops: bool = True) -> Walk:
        """A walk over the stages; `runs` is where earlier results are read (default: the plan's warehouse);
        `stops=False` walks on past a stage's stop reason (status reports every stage)."""
        return Walk(self, execute, runs, stops)


class Walk:
    """The stages of a plan visited in order: `stage(name)` one at a time (the flow, which reads as the list of
    stages), or `rest()` for all that remain. Results accumulate in `refs`."""

    def __init__(self, plan: RunPlan, execute: Execute, runs: StageRuns | None, stops: bool) -> None:
        self.plan = plan
        self.execute = execute
        self._runs = runs
        self.stops = stops
        self.refs: dict[str, StageRef] = {}
        self.stopped: str | None = None  # why the run ended early, if it did
        self._next = 0

    @property
    def runs(self) -> StageRuns:
        if self._runs is None:
            self._runs = self.plan.runs()
        return self._runs

    def stage(self, name: str) -> StageRef | None:
        """Visit `name`, which must be the next stage in the registry's order; its result, if it has one."""
        registry = self.plan.registry
        expected = registry.names[self._next] if self._next < len(registry) else None
        if name != expected:
            raise StageSelectionError(f"the walk expected stage {expected!r} next, not {name!r} (registry order)")
        self._next += 1
        if self.stopped:
            return None
        plan, spec = self.plan, registry[name]
        if name not in plan.selected:
            if plan.needed_as_upstream(name):
                self.refs[name] = plan.previous_ref(name, self.runs)
            return self.refs.get(name)
        upstream = {u: self.refs[u] for u in spec.upstream_stages if u in self.refs}
        # An off stage computes nothing: it runs in the flow, not on its deployment (no GPU worker for nothing).
        remote = name in plan.remote and plan.off_ref(name) is None
        step = Step(spec, plan.config(name), upstream, name in plan.refresh, remote)
        ref = self.execute(step)
        if ref is None:
            return None
        self.refs[name] = ref
        if self.stops and spec.stop_reason:
            self.stopped = spec.call("stop_reason", ref, step.config, self.runs)
        return ref

    def rest(self) -> dict[str, StageRef]:
        """Visit every stage not visited yet; the results."""
        for name in self.plan.registry.names[self._next :]:
            self.stage(name)
        return self.refs

    def results(self) -> dict[str, Any]:
        """The results, once every stage was visited (a flow that skipped one is a bug, not a partial run)."""
        if self._next != len(self.plan.registry):
            missing = self.plan.registry.names[self._next :]
            raise StageSelectionError(f"the walk ended before stages {list(missing)}")
        return self.refs
