"""The curate stage's result: the buckets' sizes and how many questions GRPO trains on; "off" when the recipe turns
curation off (GRPO then trains on every RL row)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from knowrl.pipeline.refs import StageRef

if TYPE_CHECKING:
    from knowrl.curate.config import CurateConfig

OFF = "off"  # the fingerprint of every result of a curate stage that is off: GRPO's key then depends on no model


class CurateRef(StageRef):
    stage: Literal["curate"] = "curate"
    enabled: bool
    artifact_id: str | None = None  # the kept set and the report; none when off
    report_path: str | None = None
    questions: int = 0  # RL questions sampled
    kept: int = 0  # questions GRPO trains on
    buckets: dict[str, int] = Field(default_factory=dict)  # bucket -> questions in it
    kept_by_bucket: dict[str, int] = Field(default_factory=dict)  # bucket -> of those, kept
    policy: str = ""
    k: int = 0
    cache_hit: bool = False  # the samples' grades came from the warehouse (no model loaded)
    metrics: dict[str, Any] = Field(default_factory=dict)
    usage: list[dict[str, Any]] = Field(default_factory=list)  # the judge's calls and tokens (none on a cache hit)

    def headline(self) -> str:
        if not self.enabled:
            return "off: GRPO trains on every RL row"
        sizes = ", ".join(f"{bucket} {n}" for bucket, n in self.buckets.items())
        return f"GRPO trains on {self.kept}/{self.questions} questions ({self.policy}); buckets: {sizes}"


def off_result(config: CurateConfig) -> CurateRef | None:
    """The result of a curate stage that is off (computed from the config alone: no model, no data), or None when
    it is on. The run plan uses it for an unselected curate stage, and runs an off stage in the flow, never on a GPU
    deployment."""
    if config.enabled:
        return None
    return CurateRef(fingerprint=OFF, enabled=False)
