"""The training stages' results: a trained model (merged weights and the LoRA adapter), its run and metrics."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from knowrl.pipeline.refs import ArtifactRef


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

    def headline(self) -> str:
        m = self.metrics
        return (
            f"format share {m.get('format_share_before')} -> {m.get('format_share_after')}, "
            f"loss {m.get('train_loss', float('nan')):.3f}, {m.get('steps')} steps in {m.get('train_seconds')}s"
        )


class HealthStop(BaseModel):
    """A GRPO run stopped by one of its `grpo.health` limits (knowrl/train/health.py)."""

    monitor: str
    step: int = Field(description="the logged step at which the limit tripped")
    first_step: int = Field(description="the first of the consecutive logged steps out of bounds")
    stopped_at: int = Field(description="the optimizer step training stopped at")
    value: float
    reason: str = Field(description="one line: the monitor, its value, the limit, the steps")
    checkpoint: str | None = Field(description="the last complete checkpoint before the trip, kept in the run folder")
    on_trip: Literal["fail", "warn"]

    def line(self) -> str:
        """The one-line reason the stage reports."""
        return f"grpo stopped at step {self.stopped_at} by grpo.health: {self.reason}"


class GRPORef(TrainedModelRef):
    stage: Literal["grpo"] = "grpo"
    curves_png: str
    inputs: dict[str, str]
    # Set when a health limit stopped training and grpo.health.on_trip is `warn`: the model is the stopped one, and
    # publish refuses it unless publish.force.
    stopped: HealthStop | None = None

    def headline(self) -> str:
        m = self.metrics
        stopped = f"STOPPED: {self.stopped.line()}; " if self.stopped else ""
        return stopped + (
            f"mean reward {m.get('reward_first_half')} (first half) -> {m.get('reward_second_half')} (second half), "
            f"{m.get('steps')} steps in {m.get('train_seconds')}s"
        )
