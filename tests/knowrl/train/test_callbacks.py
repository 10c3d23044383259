"""Training logs reach the warehouse before the checkpoint of their step is saved (and marked resumable)."""

from __future__ import annotations

from transformers import TrainerControl, TrainerState, TrainingArguments

from knowrl.train.callbacks import WarehouseLogCallback
from storage.training_logs import TrainingLogs


def test_logs_are_flushed_before_a_checkpoint_is_saved(ctx, tmp_path) -> None:
    logs = TrainingLogs(ctx.warehouse)
    callback = WarehouseLogCallback(logs, "run", "grpo", flush_every=25)
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[])
    state = TrainerState(global_step=1)
    control = TrainerControl()
    callback.on_log(args, state, control, logs={"reward": 0.5})
    assert logs.series("run", "reward") == []  # buffered: not a save step
    state.global_step = 2
    control.should_save = True  # the Trainer decided in on_step_end that this step saves a checkpoint
    callback.on_log(args, state, control, logs={"reward": 0.75})
    # Both steps are stored before _save_checkpoint runs: a crash after the checkpoint is marked complete loses none.
    assert logs.series("run", "reward") == [(1, 0.5), (2, 0.75)]
