"""Identity and state of a training run: the same config, inputs and code resume into the same run directory."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knowrl.errors import disk_full_as_oserror
from knowrl.hashing import stable_hash
from knowrl.pipeline.runtime import StageContext
from knowrl.train.checkpoints import MarkCompleteCallback, last_complete_checkpoint
from knowrl.train.settings import is_main_rank
from storage.training_logs import TrainingLogs
from storage.training_runs import RunStatus, TrainingRuns


def run_key_for(stage: str, config: dict[str, Any], inputs: dict[str, str], code_version: str) -> str:
    return f"{stage}-{stable_hash({'config': config, 'inputs': inputs, 'code': code_version})}"


@dataclass(frozen=True)
class TrainingRun:
    key: str
    directory: Path
    resume_from: Path | None
    logs: TrainingLogs
    ctx: StageContext

    def mark_complete_callback(self) -> MarkCompleteCallback:
        """Marks each saved checkpoint complete, then mirrors it (remote profile) keeping the newest two."""
        return MarkCompleteCallback(on_complete=lambda path: self.ctx.checkpoints.upload(self.key, path, keep=2))

    def mark(
        self,
        stage: str,
        status: RunStatus,
        *,
        reason: str | None = None,
        step: int | None = None,
        checkpoint: str | None = None,
    ) -> None:
        """The run's status in the warehouse (`train_runs`): started, completed, or stopped by a health limit with
        the reason, the step and the checkpoint kept. Rank 0 only (one DuckDB writer)."""
        if is_main_rank():
            TrainingRuns(self.ctx.warehouse).mark(
                self.key, stage, status, reason=reason, step=step, checkpoint=checkpoint
            )


def start_run(
    stage: str, config: dict[str, Any], inputs: dict[str, str], code_version: str, ctx: StageContext
) -> TrainingRun:
    """Find the run's last complete checkpoint and forget the logs of the steps it will redo."""
    key = run_key_for(stage, config, inputs, code_version)
    directory = ctx.paths.runs / key
    resume = last_complete_checkpoint(directory)
    if resume is None and ctx.checkpoints.enabled and is_main_rank():
        # A fresh worker (no local run directory): resume from the newest checkpoint another worker mirrored.
        remote = ctx.checkpoints.latest(key)
        if remote is not None:
            ctx.progress(f"{stage}: fetching checkpoint {remote} of run {key} from the checkpoint mirror", None)
            resume = ctx.checkpoints.download(key, remote, directory)
    logs = TrainingLogs(ctx.warehouse)
    if is_main_rank():  # one DuckDB writer under a multi-GPU launch
        logs.clear(key, after_step=int(resume.name.split("-")[1]) if resume else -1)
    if resume:
        ctx.progress(f"{stage}: resuming from {resume.name}", None)
    return TrainingRun(key, directory, resume, logs, ctx)


def load_tokenizer(path: str | Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def run_trainer(
    trainer: Any, resume: Path | None, log_cb: Any, save_model: Callable[[], bool] = lambda: True
) -> tuple[Any, float]:
    """Train (resuming when a checkpoint is given); returns the train output and the seconds it took. The trained
    adapter is saved unless `save_model()` says otherwise after training (a run stopped by a health limit that
    fails the stage: asked on every rank, which all take the same decision)."""
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # progress goes through ctx.progress and the warehouse instead
    started = time.perf_counter()
    # Checkpoints are written by torch.save and safetensors, which report a full disk as their own errors.
    with disk_full_as_oserror(trainer.args.output_dir):
        result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
        seconds = time.perf_counter() - started
        # Every rank takes part: under DeepSpeed ZeRO-3 the weights are sharded and save_model gathers them first
        # (a plain save_pretrained on rank 0 would write a broken model). Rank 0 builds the artifact from this folder.
        if save_model():
            trainer.save_model(str(final_adapter_dir(trainer)))
    log_cb.flush()
    return result, seconds


def final_adapter_dir(trainer: Any) -> Path:
    """Where `run_trainer` saves the trained adapter, inside the run directory."""
    return Path(trainer.args.output_dir) / "final-adapter"
