"""Stage results are typed, and their JSON (the run record, a task's parameters) round-trips."""

from __future__ import annotations

import json

import pytest

from knowrl import STAGES
from knowrl.pipeline.refs import REF_TYPES, DataRef, StageRefError, dump_refs, ref_from_dict, refs_from_dicts
from tests.support.refs import made_up_ref


@pytest.mark.parametrize("stage", STAGES)
def test_a_ref_round_trips_through_json(stage: str) -> None:
    stored = json.loads(json.dumps(made_up_ref(stage, f"{stage}-fp")))
    ref = ref_from_dict(stage, stored)
    assert isinstance(ref, REF_TYPES[stage]) and ref.stage == stage and ref.fingerprint == f"{stage}-fp"
    again = json.loads(json.dumps(ref.model_dump(mode="json")))
    assert ref_from_dict(stage, again) == ref
    assert {key: again[key] for key in stored} == stored  # the stored keys keep their names and values


def test_a_data_ref_has_typed_parts() -> None:
    ref = ref_from_dict("data", made_up_ref("data", "d", rl="r1", coldstart=None))
    assert isinstance(ref, DataRef) and ref.rl.fingerprint == "r1" and ref.coldstart is None
    assert refs_from_dicts(dump_refs({"data": ref})) == {"data": ref}
    assert ref_from_dict("data", ref) is ref  # a typed ref is passed through


def test_a_ref_missing_a_required_field_names_it() -> None:
    broken = made_up_ref("knowledge", "k")
    del broken["artifact_id"]
    with pytest.raises(
        StageRefError, match="the knowledge result .*artifact_id: Field required.*--from-stage knowledge"
    ):
        ref_from_dict("knowledge", broken)
    data = made_up_ref("data", "d")
    del data["rl"]["n_read"]
    with pytest.raises(StageRefError, match=r"rl\.n_read: Field required"):
        ref_from_dict("data", data)
