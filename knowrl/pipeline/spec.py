"""What a stage is, said once: its `StageSpec`. The `Registry` holds the specs in run order and is the only list of
stages; the flow, the tasks, `knowrl status`, the cached-run check, the recipe model and the deployments read it.

A spec names its functions as `"module:function"` strings, imported on first use: reading the registry (every
`knowrl` command, every cache check) must not import what a stage computes with (torch, TRL).

Upstream stages are named as `"stage"`, or `"stage:part"` when a stage reads one part of another's result (SFT
reads the data stage's `coldstart` set, GRPO its `rl` set): the part's fingerprint then enters the cache key, so
new RL rows do not retrain SFT.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import BaseModel

from knowrl.errors import ConfigError


class StageSelectionError(ConfigError):
    """`stages` or `from_stage` names something that is not a stage, or a needed result is missing."""


def load_function(path: str) -> Callable[..., Any]:
    """The function a `"module:function"` string names."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class StageReport:
    """What a stage shows about its result in the orchestrator's UI: a Markdown summary, and tables (artifact key ->
    rows) and links (artifact key -> (url, text)) beside it."""

    markdown: str
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    links: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class StageSpec:
    """One stage of the pipeline.

    - `config`, `result`: its recipe section's pydantic model and its result's (a `StageRef`);
    - `upstream`: the stages whose results it reads (`"data:rl"`: one part of the data result);
    - `packages`: the library packages whose source is its code version (part of its cache key);
    - `run`: `(config, upstream refs, StageContext) -> result`;
    - `report`: `(result, StageContext) -> StageReport`, what the task publishes;
    - `outside_inputs`: `(config) -> str`, what its cache key holds beyond config, upstream and code (e.g. the data
      sources as they are now);
    - `preflight`: `(config) -> None`, checks that must pass before any stage of a run computes (it may import
      heavy libraries: it runs only when something will compute, and a pass is remembered per config, code version
      and the versions of the distributions in `preflight_depends`);
    - `stop_reason`: `(result, config, StageRuns) -> str | None`, why a run stops after this stage (scheduled
      retraining on unchanged data);
    - `off`: `(config) -> result | None`, the result of a stage its config turns off, computed from the config alone
      (no model, no upstream): an unselected stage that is off needs no stored run, and an off stage runs in the
      flow, never on its own deployment (curate, off by default);
    - `needs_recipe`: the run function also reads the whole recipe (`ctx.recipe`), e.g. for a model card;
    - `optional`: a recipe may leave its section out (the config's defaults then apply);
    - `gpu`: runs on the gpu pool, under the `gpu` concurrency limit; `retries`: on transient failures.
    """

    name: str
    config: type[BaseModel]
    result: type[BaseModel]
    run: str
    report: str
    packages: tuple[str, ...]
    upstream: tuple[str, ...] = ()
    outside_inputs: str | None = None
    preflight: str | None = None
    preflight_depends: tuple[str, ...] = ()
    stop_reason: str | None = None
    off: str | None = None
    needs_recipe: bool = False
    optional: bool = False
    gpu: bool = False
    retries: int = 2
    description: str = ""

    @property
    def upstream_stages(self) -> tuple[str, ...]:
        return tuple(u.partition(":")[0] for u in self.upstream)

    def call(self, function: str, *args: Any) -> Any:
        """Call the spec's function named by field `function` (`run`, `report`, ...)."""
        path = getattr(self, function)
        if path is None:
            raise ValueError(f"stage {self.name} has no {function} function")
        return load_function(path)(*args)


class Registry:
    """The stages of the pipeline, in run order: the one list of stages."""

    def __init__(self, specs: list[StageSpec]) -> None:
        self._specs = {spec.name: spec for spec in specs}
        if len(self._specs) != len(specs):
            raise ValueError(f"two stages share a name in {[s.name for s in specs]}")
        for spec in specs:
            before = list(self._specs)[: list(self._specs).index(spec.name)]
            late = [u for u in spec.upstream_stages if u not in before]
            if late:
                raise ValueError(f"stage {spec.name} reads {late}, which do not come before it")

    def __iter__(self) -> Iterator[StageSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._specs)

    def __getitem__(self, name: str) -> StageSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise StageSelectionError(f"unknown stage {name!r}; stages are {', '.join(self._specs)}") from None

    def index(self, name: str) -> int:
        return self.names.index(self[name].name)

    def result(self, name: str, data: Any) -> Any:
        """The typed result of stage `name` from its JSON form (a stored run, a process boundary)."""
        from knowrl.pipeline.refs import parse_ref

        return parse_ref(self[name], data)

    def select(self, stages: list[str] | None, from_stage: str | None) -> tuple[list[str], set[str]]:
        """Which stages run, and which of those must ignore their cache (from_stage onwards)."""
        for name in [*(stages or []), *([from_stage] if from_stage else [])]:
            self[name]
        selected = [s for s in self.names if not stages or s in stages]
        refresh: set[str] = set()
        if from_stage:
            refresh = {s for s in self.names[self.index(from_stage) :] if s in selected}
        return selected, refresh

    @cached_property
    def recipe_model(self) -> type[BaseModel]:
        """The recipe's pydantic model: `name`, `description` and one section per stage."""
        from knowrl.config.recipe import recipe_model

        return recipe_model(self)
