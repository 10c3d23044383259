"""Where an upstream stage's output lives on *this* worker.

A stage's result (its ref) names its artifact by content id; the local paths in it are where the producing worker
cached it, which means nothing on another machine (workers share no disk in the remote profile). Every consumer
opens the artifact by id instead: a no-op when it is in the local cache, a verified download when another worker
produced it. The base model is resolved again from its reference (a Hub id, a builtin, or a path this worker has).
"""

from __future__ import annotations

from pathlib import Path

from knowrl.errors import InputError
from knowrl.models import resolve_model
from knowrl.pipeline.refs import ArtifactRef
from knowrl.pipeline.runtime import StageContext
from knowrl.train.result import SFTRef, TrainedModelRef


class StageOutputError(InputError):
    """An upstream result lacks what a stage needs from it (a result written by an older version)."""


def artifact_dir(ctx: StageContext, ref: ArtifactRef) -> Path:
    """The local directory of the artifact a stage result names, downloaded into this worker's cache if needed."""
    # No re-hash of a cached copy on every read (models are large); a download is always verified.
    return ctx.artifacts.open(ref.artifact_id, stage=ref.stage, verify=False).path


def model_dir(ctx: StageContext, ref: TrainedModelRef, part: str = "merged") -> Path:
    """A trained model of an sft or grpo result: `merged` (full weights) or `adapter` (LoRA only)."""
    return artifact_dir(ctx, ref) / part


def base_model_dir(ctx: StageContext, sft_ref: SFTRef) -> Path:
    """The base model the SFT stage started from, on this worker."""
    recorded = Path(sft_ref.base_model_path or "")
    if sft_ref.base_model_path and (recorded / "config.json").exists():
        return recorded
    reference = sft_ref.base_model or sft_ref.metrics.get("base_model")
    if not reference:
        raise StageOutputError("the sft result names no base model; re-run the sft stage with this version")
    return resolve_model(reference, ctx.paths.models, sft_ref.base_model_revision)
