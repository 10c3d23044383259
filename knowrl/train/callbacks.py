"""Trainer callbacks: training logs into the warehouse, progress to the caller, the GRPO health gates."""

from __future__ import annotations

import math
from collections.abc import Callable

from transformers import TrainerCallback

from knowrl.train.health import HealthConfig, Trip, check_health
from storage.training_logs import TrainingLogs


class WarehouseLogCallback(TrainerCallback):
    """Every numeric value the trainer logs, per step, into `train_logs` (queryable with SQL).

    Rows are buffered and written every `flush_every` logs, before each checkpoint and at the end: one DuckDB
    transaction per batch instead of one per step keeps logging off the training loop's critical path.
    """

    def __init__(self, logs: TrainingLogs, run_key: str, stage: str, flush_every: int = 25) -> None:
        self.logs = logs
        self.run_key = run_key
        self.stage = stage
        self.flush_every = flush_every
        self._pending: list[tuple[int, dict[str, float]]] = []

    def flush(self) -> None:
        if self._pending:
            self.logs.append_many(self.run_key, self.stage, self._pending)
            self._pending = []

    def on_save(self, args, state, control, **kwargs):
        self.flush()
        return control

    def on_train_end(self, args, state, control, **kwargs):
        self.flush()
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or not state.is_world_process_zero:
            return control
        numeric = {
            k: float(v)
            for k, v in logs.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))
        }
        if numeric:
            self._pending.append((state.global_step, numeric))
        # The Trainer logs a step before it saves that step's checkpoint, and MarkCompleteCallback marks the checkpoint
        # resumable in on_save, before this callback's on_save runs. Rows still pending then are lost to a crash in
        # between, and a run resumed from that checkpoint never logs those steps again: flush before the save.
        if len(self._pending) >= self.flush_every or (self._pending and control.should_save):
            self.flush()
        return control


class ProgressCallback(TrainerCallback):
    """Every optimizer step to the caller's progress callback, with the last logged loss or reward: the caller
    decides what reaches the log (knowrl.pipeline.runtime.stage_progress) and what only the live display."""

    SHOWN = ("loss", "reward")

    def __init__(self, stage: str, progress: Callable[[str, float | None], None]) -> None:
        self.stage = stage
        self.progress = progress
        self.last: dict[str, float] = {}

    def on_log(self, args, state, control, logs=None, **kwargs):
        for name in self.SHOWN:
            if isinstance((logs or {}).get(name), int | float):
                self.last[name] = float(logs[name])
        return control

    def on_step_end(self, args, state, control, **kwargs):
        if state.max_steps and state.is_world_process_zero:
            shown = "".join(f", {name} {value:.3f}" for name, value in self.last.items())
            self.progress(
                f"{self.stage}: step {state.global_step}/{state.max_steps}{shown}", state.global_step / state.max_steps
            )
        return control


class HealthCallback(TrainerCallback):
    """Checks the recipe's limits at every logged step; the first trip stops training (`should_training_stop`)
    and is kept in `trip`, with the global step training stopped at. The step that tripped is not saved as a
    checkpoint: the last checkpoint before it is the one a rerun resumes from."""

    def __init__(self, cfg: HealthConfig) -> None:
        self.cfg = cfg
        self.trip: Trip | None = None
        self.stopped_at: int | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.trip is not None or not self.cfg.limits():
            return control
        trip = check_health(self.cfg, state.log_history)
        if trip is not None:
            self.trip, self.stopped_at = trip, state.global_step
            control.should_training_stop = True
            control.should_save = False
        return control
