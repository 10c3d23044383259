"""`knowrl status`'s answer: a stage is cached only when a recorded run has the full cache key a run would compute
now (config, upstream fingerprints, code version, the data sources as they are)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import knowrl.pipeline.keys
from knowrl import resources
from knowrl.config.recipe import RecipeBase
from knowrl.pipeline.keys import stage_key
from knowrl.pipeline.plan import RunPlan
from knowrl.pipeline.refs import dump_refs
from knowrl.pipeline.status import cached_run, stage_statuses
from knowrl.registry import REGISTRY, load_recipe
from storage import Paths, open_warehouse
from storage.stage_runs import StageRuns
from tests.support.refs import made_up_ref


def _record(recipe: RecipeBase, stage: str, refs: dict[str, dict], paths: Paths, version: int = 1) -> dict:
    """Record a completed run of `stage` as its task does (tasks/stage_task.py record_run), with a made-up result
    whose fingerprints are those of output `version`."""
    spec = REGISTRY[stage]
    upstream = {name: REGISTRY.result(name, refs[name]) for name in spec.upstream_stages if name in refs}
    ref = made_up_ref(stage, f"{stage}-v{version}", rl=f"rl-v{version}", coldstart="cs-v1")
    key = stage_key(spec, recipe.stage_config(stage), upstream)
    StageRuns(open_warehouse(paths)).record(stage, key, recipe.config_hash(stage), ref)
    refs[stage] = ref
    return ref


@pytest.fixture
def rl_file(tmp_path: Path) -> Path:
    copy = tmp_path / "rl.jsonl"
    shutil.copy(resources.demo_dir() / "data" / "rl.jsonl", copy)
    return copy


def _states(recipe: RecipeBase, paths: Paths) -> dict[str, str]:
    runs = StageRuns(open_warehouse(paths, read_only=True))
    plan = RunPlan(REGISTRY, "demo", recipe, list(REGISTRY.names), set(), paths)
    return {s.stage: "cached" if s.cached else s.reason for s in stage_statuses(plan, runs)}


def test_cached_only_when_the_full_key_matches(home: Path, rl_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = Paths.from_env()
    recipe = load_recipe("demo", [f"data.rl_source={rl_file}"])
    refs: dict[str, dict] = {}
    for stage in ("data", "knowledge", "sft"):
        _record(recipe, stage, refs, paths)
    expected_never = {"curate": "never run", "grpo": "never run", "evaluate": "never run", "publish": "never run"}
    assert _states(recipe, paths) == {"data": "cached", "knowledge": "cached", "sft": "cached", **expected_never}

    # The same config, but the data file changed: data runs again, and the stages reading it wait for it.
    rl_file.write_text(rl_file.read_text() + '{"question": "Q?", "answers": "A", "title": "T"}\n')
    assert _states(recipe, paths) == {
        "data": "inputs or code changed",
        "knowledge": "data will run first",
        "sft": "data will run first",
        **expected_never,
    }
    _record(recipe, "data", refs, paths, version=2)  # ran again: new RL rows; the cold-start set is the same
    states = _states(recipe, paths)
    assert states["data"] == "cached" and states["knowledge"] == "inputs or code changed"
    assert states["sft"] == "cached"  # SFT reads only the cold-start part of the data stage

    # A config change of one stage; and a change of a stage's code.
    changed = load_recipe("demo", [f"data.rl_source={rl_file}", "knowledge.passage_max_tokens=32"])
    assert _states(changed, paths)["knowledge"] == "config changed"
    monkeypatch.setattr(knowrl.pipeline.keys, "code_version", lambda spec: "edited")
    assert _states(recipe, paths)["data"] == "inputs or code changed"


def test_an_earlier_run_with_the_same_key_is_cached(home: Path, rl_file: Path) -> None:
    """Prefect reuses any run whose key matches, not only the last one: switching a setting back is a cache hit."""
    paths = Paths.from_env()
    first = load_recipe("demo", [f"data.rl_source={rl_file}"])
    other = load_recipe("demo", [f"data.rl_source={rl_file}", "data.seed=1"])
    refs: dict[str, dict] = {}
    _record(first, "data", refs, paths)
    _record(other, "data", refs, paths)
    assert _states(first, paths)["data"] == "cached" and _states(other, paths)["data"] == "cached"


def test_a_run_whose_every_stage_is_a_cache_hit_is_known_without_the_orchestrator(home: Path, rl_file: Path) -> None:
    paths = Paths.from_env()
    overrides = [f"data.rl_source={rl_file}"]
    recipe = load_recipe("demo", overrides)
    refs: dict[str, dict] = {}
    _record(recipe, "data", refs, paths)
    _record(recipe, "knowledge", refs, paths)
    runs = StageRuns(open_warehouse(paths, read_only=True))
    held = {"everything"}

    def has_result(key: str) -> bool:
        return "everything" in held or key in held

    plan = RunPlan.create(REGISTRY, "demo", ["data", "knowledge"], overrides=overrides, paths=Paths.from_env())
    assert dump_refs(cached_run(plan, runs, has_result) or {}) == {
        "data": refs["data"],
        "knowledge": refs["knowledge"],
    }
    only_knowledge = RunPlan.create(
        REGISTRY, "demo", ["knowledge"], overrides=overrides, paths=Paths.from_env()
    )  # data's last result is reused
    assert dump_refs(cached_run(only_knowledge, runs, has_result) or {}) == {
        "data": refs["data"],
        "knowledge": refs["knowledge"],
    }
    assert (
        cached_run(
            RunPlan.create(
                REGISTRY, "demo", ["data", "knowledge", "sft"], overrides=overrides, paths=Paths.from_env()
            ),
            runs,
            has_result,
        )
        is None
    )
    assert (
        cached_run(
            RunPlan.create(REGISTRY, "demo", ["data", "knowledge"], "knowledge", overrides, paths=Paths.from_env()),
            runs,
            has_result,
        )
        is None
    )
    held.clear()  # Prefect's result records are gone: Prefect would run the stages again
    assert cached_run(plan, runs, has_result) is None


def test_a_scheduled_run_on_unchanged_data_stops_after_the_data_stage(home: Path, rl_file: Path) -> None:
    paths = Paths.from_env()
    overrides = [f"data.rl_source={rl_file}", "data.stop_when_unchanged=true"]
    refs: dict[str, dict] = {}
    data = _record(load_recipe("demo", overrides), "data", refs, paths)
    grpo_ref = made_up_ref("grpo", "g", rl=data["rl"]["fingerprint"])
    StageRuns(open_warehouse(paths)).record("grpo", "some-key", "some-config", grpo_ref)
    runs = StageRuns(open_warehouse(paths, read_only=True))
    plan = RunPlan.create(REGISTRY, "demo", overrides=overrides, paths=Paths.from_env())
    assert dump_refs(cached_run(plan, runs, lambda key: True) or {}) == {"data": data}
