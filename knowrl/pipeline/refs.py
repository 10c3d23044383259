"""Stage results ("refs"): what a stage returns and the stages after it read. Each stage's result model lives in its
package and subclasses `StageRef`; this module holds the bases and the parsing that names a bad field.

Fields are named as the keys of the JSON the runs are stored as (storage/stage_runs.py keeps dicts), so a ref
round-trips through `model_dump(mode="json")` and `parse_ref`. Within a process (the flow, the tasks, the stages) a
ref stays typed; it travels as that dump only across storage and process boundaries (the run record, the training
launcher's spec file).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from knowrl.errors import InputError

if TYPE_CHECKING:
    from knowrl.pipeline.spec import StageSpec


class StageRefError(InputError):
    """A stored or passed stage result lacks a field or has a wrong one (a result written by an older version)."""


class StageRef(BaseModel):
    stage: str
    fingerprint: str

    def headline(self) -> str:
        """One line for the CLI's tables: what the stage produced."""
        return ""


class ArtifactRef(StageRef):
    """A stage whose output is an artifact in the artifact store, named by its content id."""

    artifact_id: str


def parse_ref(spec: StageSpec, data: Mapping[str, Any] | StageRef) -> StageRef:
    """The typed result of `spec`'s stage from its JSON form; a model is returned as is. A missing or wrong field is
    named, with the fix."""
    if isinstance(data, StageRef):
        return data
    try:
        return spec.result.model_validate(dict(data))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise StageRefError(
            f"the {spec.name} result is not one this version reads ({problems}); re-run its stage with this version "
            f"(e.g. `knowrl run --from-stage {spec.name}`)"
        ) from exc


def dump_refs(refs: Mapping[str, StageRef]) -> dict[str, dict[str, Any]]:
    """Stage -> result as JSON-ready dicts: what crosses a process or storage boundary."""
    return {stage: ref.model_dump(mode="json") for stage, ref in refs.items()}
