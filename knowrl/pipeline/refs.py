"""Stage results ("refs"): one pydantic model per stage, what a stage returns and the stages after it read.

Fields are named as the keys of the JSON the runs are stored as (storage/stage_runs.py keeps dicts), so a ref
round-trips through `model_dump(mode="json")` and `ref_from_dict`. Where a ref crosses a process or storage
boundary (the run record, a task's parameters, the training launcher's spec file), it travels as that dump.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from knowrl.errors import InputError


class StageRefError(InputError):
    """A stored or passed stage result lacks a field or has a wrong one (a result written by an older version)."""


class StageRef(BaseModel):
    stage: str
    fingerprint: str


class DatasetPart(BaseModel):
    """One set of the data stage (the RL set or the cold-start set) as loaded into the warehouse."""

    fingerprint: str
    source: str
    revision: str | None
    load_id: str
    is_new_version: bool
    n_read: int
    n_accepted: int
    n_quarantined: int
    n_train: int
    n_heldout: int
    quarantine_reasons: dict[str, int]


class DataRef(StageRef):
    stage: Literal["data"] = "data"
    rl: DatasetPart
    coldstart: DatasetPart | None


class ArtifactRef(StageRef):
    """A stage whose output is an artifact in the artifact store, named by its content id."""

    artifact_id: str


class KnowledgeRef(ArtifactRef):
    stage: Literal["knowledge"] = "knowledge"
    path: str
    store_key: str
    source: str
    segments: int
    pages_indexed_now: int
    pages_total: int
    titles_needed: int
    titles_found: int
    titles_missing: int
    coverage: float
    missing_examples: list[str]
    questions: int
    questions_without_titles: int
    drop_questions_without_titles: bool


class TrainedModelRef(ArtifactRef):
    """A trained model (sft or grpo): merged weights and the LoRA adapter, the training run, its metrics."""

    model_path: str
    adapter_path: str
    run_key: str
    metrics: dict[str, Any]


class SFTRef(TrainedModelRef):
    stage: Literal["sft"] = "sft"
    base_model_path: str | None = None
    base_model: str | None = None
    base_model_revision: str | None = None


class GRPORef(TrainedModelRef):
    stage: Literal["grpo"] = "grpo"
    curves_png: str
    inputs: dict[str, str]


class EvaluateRef(ArtifactRef):
    stage: Literal["evaluate"] = "evaluate"
    report_path: str
    chart_path: str
    comparison: dict[str, Any]
    summary: str
    cache_hits: int
    models: dict[str, str]


class PublishRef(ArtifactRef):
    stage: Literal["publish"] = "publish"
    bundle_path: str
    repo_id: str
    pushed: bool
    url: str | None
    tag: str
    gate_violations: list[str]
    commit: str | None = None


REF_TYPES: dict[str, type[StageRef]] = {
    "data": DataRef,
    "knowledge": KnowledgeRef,
    "sft": SFTRef,
    "grpo": GRPORef,
    "evaluate": EvaluateRef,
    "publish": PublishRef,
}


def ref_from_dict(stage: str, data: Mapping[str, Any] | StageRef) -> StageRef:
    """The typed result of `stage` from its JSON form (a stored run, a task parameter); a model is returned as is.
    A missing or wrong field is named, with the fix."""
    if isinstance(data, StageRef):
        return data
    try:
        return REF_TYPES[stage].model_validate(dict(data))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise StageRefError(
            f"the {stage} result is not one this version reads ({problems}); re-run its stage with this version "
            f"(e.g. `knowrl run --from-stage {stage}`)"
        ) from exc


def refs_from_dicts(refs: Mapping[str, Mapping[str, Any] | StageRef]) -> dict[str, Any]:
    """`ref_from_dict` over a stage -> result mapping (a task's `upstream`)."""
    return {stage: ref_from_dict(stage, ref) for stage, ref in refs.items()}


def dump_refs(refs: Mapping[str, StageRef]) -> dict[str, dict[str, Any]]:
    """Stage -> result as JSON-ready dicts: what crosses a process or storage boundary."""
    return {stage: ref.model_dump(mode="json") for stage, ref in refs.items()}
