"""The `knowrl` flow through Prefect's test harness: caching, stage selection, from_stage, early stop."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowrl.pipeline.plan import RunPlan
from knowrl.pipeline.refs import DataRef
from knowrl.pipeline.stages import StageSelectionError, cache_key, select_stages
from storage import Paths, Warehouse
from storage.stage_runs import StageRuns
from tests.conftest import REPO_ROOT
from tests.support.refs import made_up_ref

DEMO = str(REPO_ROOT / "recipes" / "demo.yaml")


def _runs(stage: str) -> int:
    with Warehouse(Paths.from_env().warehouse).connect() as con:
        return con.execute("SELECT count(*) FROM stage_runs WHERE stage = ?", [stage]).fetchall()[0][0]


def test_select_stages() -> None:
    assert select_stages(None, None) == (["data", "knowledge", "sft", "grpo", "evaluate", "publish"], set())
    assert select_stages(["sft", "data"], "sft") == (["data", "sft"], {"sft"})
    with pytest.raises(StageSelectionError, match="unknown stage 'train'"):
        select_stages(["train"], None)


def test_cache_key_changes_with_config_and_the_upstream_part_the_stage_reads() -> None:
    def data(rl: str, cs: str) -> dict:
        return {"data": made_up_ref("data", rl + cs, rl=rl, coldstart=cs)}

    base = cache_key("knowledge", {"a": 1}, data("r1", "c1"))
    assert base == cache_key("knowledge", {"a": 1}, data("r1", "c1"))
    assert base != cache_key("knowledge", {"a": 2}, data("r1", "c1"))
    assert base != cache_key("knowledge", {"a": 1}, data("r2", "c1"))
    assert base == cache_key("knowledge", {"a": 1}, data("r1", "c2"))  # knowledge reads the RL titles only
    assert cache_key("sft", {}, data("r1", "c1")) == cache_key("sft", {}, data("r2", "c1"))
    assert cache_key("sft", {}, data("r1", "c1")) != cache_key("sft", {}, data("r1", "c2"))


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
    plan = RunPlan.create(DEMO, overrides=["data.stop_when_unchanged=true"], paths=Paths.from_env())
    data_ref = DataRef.model_validate(made_up_ref("data", "x", rl="fp1"))
    assert not plan.should_stop_after_data(data_ref)  # never trained: go on
    StageRuns(Warehouse(Paths.from_env().warehouse)).record("grpo", "k", "c", made_up_ref("grpo", "g", rl="fp1"))
    assert plan.should_stop_after_data(data_ref)
    assert not plan.should_stop_after_data(DataRef.model_validate(made_up_ref("data", "x", rl="fp2")))
    assert not RunPlan.create(DEMO, paths=Paths.from_env()).should_stop_after_data(
        data_ref
    )  # only when the recipe asks for it
