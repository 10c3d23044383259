"""Which checkpoint a resumed run trusts: only one the Trainer finished writing, as the marker callback records it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from knowrl.train.checkpoints import MarkCompleteCallback, last_complete_checkpoint


def _save(callback: MarkCompleteCallback, run_dir: Path, step: int, *, rank_zero: bool = True) -> None:
    """What the Trainer does after it wrote checkpoint-<step> in full: call on_save."""
    args = SimpleNamespace(output_dir=str(run_dir))
    state = SimpleNamespace(global_step=step, is_world_process_zero=rank_zero)
    callback.on_save(args, state, SimpleNamespace())


def test_only_checkpoints_the_trainer_finished_are_resumed_from(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    mirrored: list[str] = []
    callback = MarkCompleteCallback(on_complete=lambda path: mirrored.append(path.name))
    assert last_complete_checkpoint(run_dir) is None  # a run that never started

    for step in (2, 9, 10):
        (run_dir / f"checkpoint-{step}").mkdir(parents=True)
        _save(callback, run_dir, step)
    (run_dir / "checkpoint-12").mkdir()  # a crash while writing it: on_save never came
    (run_dir / "checkpoint-final").mkdir()  # not a step checkpoint
    assert last_complete_checkpoint(run_dir).name == "checkpoint-10"  # by step, not by name (10 > 9)
    assert mirrored == ["checkpoint-2", "checkpoint-9", "checkpoint-10"]  # each complete one is mirrored once

    # Another rank's on_save, or a save whose folder is missing, marks nothing and mirrors nothing.
    (run_dir / "checkpoint-14").mkdir()
    _save(callback, run_dir, 14, rank_zero=False)
    _save(callback, run_dir, 16)
    assert last_complete_checkpoint(run_dir).name == "checkpoint-10" and len(mirrored) == 3
