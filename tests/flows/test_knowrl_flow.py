"""The `knowrl` flow through Prefect's test harness: caching, stage selection, from_stage, early stop."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowrl.data.result import DataRef
from knowrl.data.stage import already_trained_on
from knowrl.pipeline.keys import cache_key
from knowrl.pipeline.spec import StageSelectionError
from knowrl.registry import REGISTRY, load_recipe
from storage import Paths, Warehouse
from storage.stage_runs import StageRuns
from tests.conftest import REPO_ROOT
from tests.support.refs import made_up_ref

DEMO = str(REPO_ROOT / "recipes" / "demo.yaml")


def _runs(stage: str) -> int:
    with Warehouse(Paths.from_env().warehouse).connect() as con:
        return con.execute("SELECT count(*) FROM stage_runs WHERE stage = ?", [stage]).fetchall()[0][0]


def test_select_stages() -> None:
    assert REGISTRY.select(None, None) == (list(REGISTRY.names), set())
    assert REGISTRY.select(["sft", "data"], "sft") == (["data", "sft"], {"sft"})
    with pytest.raises(StageSelectionError, match="unknown stage 'train'"):
        REGISTRY.select(["train"], None)


def test_cache_key_changes_with_config_and_the_upstream_part_the_stage_reads() -> None:
    def data(rl: str, cs: str) -> dict:
        return {"data": REGISTRY.result("data", made_up_ref("data", rl + cs, rl=rl, coldstart=cs))}

    knowledge, sft = REGISTRY["knowledge"], REGISTRY["sft"]
    base = cache_key(knowledge, {"a": 1}, data("r1", "c1"))
    assert base == cache_key(knowledge, {"a": 1}, data("r1", "c1"))
    assert base != cache_key(knowledge, {"a": 2}, data("r1", "c1"))
    assert base != cache_key(knowledge, {"a": 1}, data("r2", "c1"))
    assert base == cache_key(knowledge, {"a": 1}, data("r1", "c2"))  # knowledge reads the RL titles only
    assert cache_key(sft, {}, data("r1", "c1")) == cache_key(sft, {}, data("r2", "c1"))
    assert cache_key(sft, {}, data("r1", "c1")) != cache_key(sft, {}, data("r1", "c2"))


def test_data_stage_twice_second_run_is_a_cache_hit(prefect_harness, home: Path) -> None:
    from flows.knowrl_flow import knowrl

    first = knowrl(recipe=DEMO, stages=["data"])
    second = knowrl(recipe=DEMO, stages=["data"])
    assert first["data"] == second["data"]
    assert _runs("data") == 1  # the task body ran once; the second run was served from the cache
    assert first["data"].rl.n_accepted == 89


def test_changing_one_stage_reruns_it_and_not_those_before(prefect_harness, home: Path) -> None:
    from flows.knowrl_flow import knowrl

    knowrl(recipe=DEMO, stages=["data", "knowledge"])
    knowrl(recipe=DEMO, stages=["data", "knowledge"])
    assert (_runs("data"), _runs("knowledge")) == (1, 1)
    changed = knowrl(recipe=DEMO, stages=["data", "knowledge"], overrides=["knowledge.passage_max_tokens=32"])
    assert (_runs("data"), _runs("knowledge")) == (1, 2)
    knowrl(
        recipe=DEMO,
        stages=["data", "knowledge"],
        from_stage="knowledge",
        overrides=["knowledge.passage_max_tokens=32"],
    )
    assert (_runs("data"), _runs("knowledge")) == (1, 3)  # from_stage ignores that stage's cache
    only_knowledge = knowrl(recipe=DEMO, stages=["knowledge"], overrides=["knowledge.passage_max_tokens=32"])
    assert only_knowledge["knowledge"].fingerprint == changed["knowledge"].fingerprint


def test_unselected_upstream_without_a_run_names_the_fix(prefect_harness, home: Path) -> None:
    from flows.knowrl_flow import knowrl

    with pytest.raises(StageSelectionError, match="add it to the stages to run"):
        knowrl(recipe=DEMO, stages=["knowledge"])


def test_schedule_stops_after_data_when_the_data_was_trained_on(home: Path) -> None:
    scheduled = load_recipe(DEMO, ["data.stop_when_unchanged=true"]).data
    runs = StageRuns(Warehouse(Paths.from_env().warehouse))
    data_ref = DataRef.model_validate(made_up_ref("data", "x", rl="fp1"))
    assert already_trained_on(data_ref, scheduled, runs) is None  # never trained: go on
    runs.record("grpo", "k", "c", made_up_ref("grpo", "g", rl="fp1"))
    assert "fp1 is unchanged" in (already_trained_on(data_ref, scheduled, runs) or "")
    assert already_trained_on(DataRef.model_validate(made_up_ref("data", "x", rl="fp2")), scheduled, runs) is None
    assert already_trained_on(data_ref, load_recipe(DEMO).data, runs) is None  # only when the recipe asks for it


def test_the_registry_is_the_only_list_of_stages() -> None:
    """The flow visits the registry's stages in its order (a walk refuses any other), and no module of the code
    base spells the stages out as a list again."""
    import ast
    import re

    flow_source = (REPO_ROOT / "flows" / "knowrl_flow.py").read_text()
    assert re.findall(r'run\.stage\("(\w+)"\)', flow_source) == list(REGISTRY.names)
    names = set(REGISTRY.names)
    listed = []
    for folder in ("knowrl", "storage", "tasks", "flows", "knowrl_cli"):
        for path in (REPO_ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Tuple | ast.List | ast.Set):
                    words = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
                    if len(words & names) >= len(names) - 1:  # a stage reads several, never all, upstream
                        listed.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert listed == []


def test_a_walk_visits_the_stages_in_the_registry_order(home: Path) -> None:
    from knowrl.pipeline.plan import RunPlan

    plan = RunPlan.create(REGISTRY, DEMO, stages=["data"], paths=Paths.from_env())
    walk = plan.walk(lambda step: None)
    with pytest.raises(StageSelectionError, match="expected stage 'data' next, not 'knowledge'"):
        walk.stage("knowledge")
    walk.stage("data")
    with pytest.raises(StageSelectionError, match="ended before stages"):
        walk.results()


def test_an_off_stage_needs_no_stored_run_and_never_goes_to_its_deployment(home: Path) -> None:
    """Curate off: GRPO gets the off result without any curate run on record, and a selected off curate runs in
    the flow even when its stage is sent to the gpu pool; on, it goes there and needs its run."""
    from knowrl.curate.result import CurateRef
    from knowrl.pipeline.plan import RunPlan

    paths = Paths.from_env()
    off, on = ["curate.enabled=false"], ["curate.enabled=true"]
    runs = StageRuns(Warehouse(paths.warehouse))
    for stage in ("data", "knowledge", "sft"):
        runs.record(stage, f"key-{stage}", load_recipe(DEMO, off).config_hash(stage), made_up_ref(stage, stage))
    steps: dict = {}

    def execute(step):
        steps[step.name] = step
        return REGISTRY.result(step.name, made_up_ref(step.name, step.name))

    plan = RunPlan.create(REGISTRY, DEMO, ["grpo"], overrides=off, paths=paths)
    plan.walk(execute).rest()
    assert steps["grpo"].upstream["curate"] == CurateRef(fingerprint="off", enabled=False)
    plan = RunPlan.create(REGISTRY, DEMO, ["curate", "grpo"], overrides=off, remote_stages=["curate"], paths=paths)
    plan.walk(execute).rest()
    assert not steps["curate"].remote
    plan = RunPlan.create(REGISTRY, DEMO, ["curate", "grpo"], overrides=on, remote_stages=["curate"], paths=paths)
    plan.walk(execute).rest()
    assert steps["curate"].remote
    with pytest.raises(StageSelectionError, match="stage 'curate' is not selected and has no completed run"):
        RunPlan.create(REGISTRY, DEMO, ["grpo"], overrides=on, paths=paths).walk(execute).rest()
