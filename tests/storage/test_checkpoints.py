"""Checkpoint mirroring: files first, marker last; a new worker resumes from the newest complete checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storage import CheckpointNotFoundError, Paths, open_checkpoints
from storage.checkpoints import MARKER


def _checkpoint(run_dir: Path, step: int, marked: bool = True) -> Path:
    directory = run_dir / f"checkpoint-{step}"
    (directory / "adapter").mkdir(parents=True)
    (directory / "adapter" / "weights.bin").write_bytes(bytes([step % 256]) * 5000)
    (directory / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    if marked:
        (directory / MARKER).write_text(str(step))
    return directory


def test_a_fresh_worker_resumes_from_the_newest_mirrored_checkpoint(remote_profile, tmp_path: Path) -> None:
    mirror = open_checkpoints(Paths(tmp_path / "worker-1"))
    run_dir = tmp_path / "worker-1" / "runs" / "grpo-abc"
    for step in (10, 20, 5):
        mirror.upload("grpo-abc", _checkpoint(run_dir, step))
    assert mirror.complete("grpo-abc") == ["checkpoint-5", "checkpoint-10", "checkpoint-20"]

    fresh = open_checkpoints(Paths(tmp_path / "worker-2"))  # another machine: nothing local
    name = fresh.latest("grpo-abc")
    assert name == "checkpoint-20"
    local = fresh.download("grpo-abc", name, tmp_path / "worker-2" / "runs" / "grpo-abc")
    assert (local / "adapter" / "weights.bin").read_bytes() == bytes([20]) * 5000
    assert (local / MARKER).read_text() == "20"  # what knowrl.train.checkpoints looks for
    assert fresh.latest("other-run") is None
    with pytest.raises(CheckpointNotFoundError, match="checkpoint-99"):
        fresh.download("grpo-abc", "checkpoint-99", tmp_path / "x")


def test_a_checkpoint_without_its_marker_is_never_picked(remote_profile, tmp_path: Path) -> None:
    mirror = open_checkpoints(Paths(tmp_path))
    run_dir = tmp_path / "runs" / "r"
    mirror.upload("r", _checkpoint(run_dir, 1))
    mirror.upload("r", _checkpoint(run_dir, 2))
    # An upload that died before its marker: files present, no marker.
    fs = mirror.remote.fs
    fs.rm_file(f"{mirror.base_url}/r/checkpoint-2/{MARKER}")
    assert mirror.latest("r") == "checkpoint-1"


def test_keep_prunes_old_remote_checkpoints(remote_profile, tmp_path: Path) -> None:
    mirror = open_checkpoints(Paths(tmp_path))
    run_dir = tmp_path / "runs" / "r"
    for step in (1, 2, 3):
        mirror.upload("r", _checkpoint(run_dir, step), keep=2)
    assert mirror.complete("r") == ["checkpoint-2", "checkpoint-3"]
    assert not mirror.remote.fs.exists(f"{mirror.base_url}/r/checkpoint-1/trainer_state.json")


def test_corrupted_remote_checkpoint_is_refused(remote_profile, tmp_path: Path) -> None:
    mirror = open_checkpoints(Paths(tmp_path))
    mirror.upload("r", _checkpoint(tmp_path / "runs" / "r", 7))
    mirror.remote.fs.pipe_file(f"{mirror.base_url}/r/checkpoint-7/trainer_state.json", b"{}")
    target = tmp_path / "elsewhere"
    with pytest.raises(CheckpointNotFoundError, match="trainer_state.json"):
        mirror.download("r", "checkpoint-7", target)
    assert list(target.iterdir()) == []  # no half-verified checkpoint left where the trainer looks
