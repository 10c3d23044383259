"""Stage results are typed, and their JSON (the run record, a process boundary) round-trips."""

from __future__ import annotations

import json

import pytest

from knowrl.data.result import DataRef
from knowrl.pipeline.refs import StageRefError, dump_refs
from knowrl.registry import REGISTRY
from tests.support.refs import made_up_ref


@pytest.mark.parametrize("stage", REGISTRY.names)
def test_a_ref_round_trips_through_json(stage: str) -> None:
    stored = json.loads(json.dumps(made_up_ref(stage, f"{stage}-fp")))
    ref = REGISTRY.result(stage, stored)
    assert isinstance(ref, REGISTRY[stage].result) and ref.stage == stage and ref.fingerprint == f"{stage}-fp"
    again = json.loads(json.dumps(ref.model_dump(mode="json")))
    assert REGISTRY.result(stage, again) == ref
    assert {key: again[key] for key in stored} == stored  # the stored keys keep their names and values
    assert isinstance(ref.headline(), str)


def test_a_data_ref_has_typed_parts() -> None:
    ref = REGISTRY.result("data", made_up_ref("data", "d", rl="r1", coldstart=None))
    assert isinstance(ref, DataRef) and ref.rl.fingerprint == "r1" and ref.coldstart is None
    assert {k: REGISTRY.result(k, v) for k, v in dump_refs({"data": ref}).items()} == {"data": ref}
    assert REGISTRY.result("data", ref) is ref  # a typed ref is passed through


def test_a_ref_missing_a_required_field_names_it() -> None:
    broken = made_up_ref("knowledge", "k")
    del broken["artifact_id"]
    with pytest.raises(
        StageRefError, match="the knowledge result .*artifact_id: Field required.*--from-stage knowledge"
    ):
        REGISTRY.result("knowledge", broken)
    data = made_up_ref("data", "d")
    del data["rl"]["n_read"]
    with pytest.raises(StageRefError, match=r"rl\.n_read: Field required"):
        REGISTRY.result("data", data)
