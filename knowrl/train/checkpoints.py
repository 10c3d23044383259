"""Checkpoints under a run directory, and which one a resumed run may trust.

The Trainer calls `on_save` only after a checkpoint is fully written; we then drop a marker file in it and hand
it to `on_complete` (the storage profile's checkpoint mirror, so a rerun on another worker can resume from it).
A checkpoint without the marker (a crash mid-save) is never picked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from transformers import TrainerCallback

COMPLETE_MARKER = "KNOWRL_COMPLETE"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def last_complete_checkpoint(run_dir: Path) -> Path | None:
    if not run_dir.exists():
        return None
    complete = []
    for path in run_dir.iterdir():
        match = _CHECKPOINT.match(path.name)
        if match and (path / COMPLETE_MARKER).exists():
            complete.append((int(match.group(1)), path))
    return max(complete)[1] if complete else None


class MarkCompleteCallback(TrainerCallback):
    def __init__(self, on_complete: Callable[[Path], object] | None = None) -> None:
        self.on_complete = on_complete

    def on_save(self, args, state, control, **kwargs):
        checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if checkpoint.exists() and state.is_world_process_zero:
            (checkpoint / COMPLETE_MARKER).write_text(str(state.global_step))
            if self.on_complete is not None:
                self.on_complete(checkpoint)
        return control
