"""The training stages' results: a trained model (merged weights and the LoRA adapter), its run and metrics."""

from __future__ import annotations

from typing import Any, Literal

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


class GRPORef(TrainedModelRef):
    stage: Literal["grpo"] = "grpo"
    curves_png: str
    inputs: dict[str, str]

    def headline(self) -> str:
        m = self.metrics
        return (
            f"mean reward {m.get('reward_first_half')} (first half) -> {m.get('reward_second_half')} (second half), "
            f"{m.get('steps')} steps in {m.get('train_seconds')}s"
        )
