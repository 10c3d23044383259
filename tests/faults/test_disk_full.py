"""A full disk (a small tmpfs) is one line naming the path, and is not retried: torch's and safetensors' own words for
it ("unexpected pos", "os error 28") become OSError(ENOSPC) wherever checkpoints and models are saved."""

from __future__ import annotations

import errno
import re
from pathlib import Path

import pytest

from knowrl.errors import disk_full_as_oserror, disk_full_message, is_transient
from tests.faults.conftest import DEMO_RECIPE, SMALL_TRAINING, FaultHome, sets, small_tmpfs

# Prefect's log line for a retried task: "... - Retry 1/3 will start 5 second(s) from now", state AwaitingRetry.
PREFECT_RETRY = re.compile(r"Retry \d+/\d+|AwaitingRetry")


def _save_torch(path: Path) -> None:
    import torch

    torch.save({"weights": torch.zeros(100_000)}, path / "optimizer.pt")


def _save_safetensors(path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    save_file({"weights": torch.zeros(100_000)}, str(path / "adapter_model.safetensors"))


@pytest.mark.parametrize("save", [_save_torch, _save_safetensors], ids=["torch.save", "safetensors"])
def test_a_checkpoint_writer_on_a_full_disk_raises_disk_full(save, tmp_path: Path, record) -> None:
    disk = tmp_path / "disk"
    with small_tmpfs(disk, "64k"), pytest.raises(OSError) as caught, disk_full_as_oserror(disk):
        save(disk)
    exc = caught.value
    cause = exc.__cause__
    record(
        f"{save.__name__.removeprefix('_save_')} on a full disk",
        "OSError(ENOSPC) naming the path, not transient",
        f"{type(cause).__name__ if cause else type(exc).__name__} -> errno {exc.errno}, transient {is_transient(exc)}",
    )
    assert exc.errno == errno.ENOSPC and exc.filename == str(disk)
    assert not is_transient(exc)
    assert str(disk) in disk_full_message(exc)


@pytest.mark.slow
def test_sft_checkpoint_on_a_full_disk_fails_once_in_one_line(fault_home: FaultHome, record) -> None:
    fault_home.seed_model()
    runs = fault_home.home / "runs"
    with small_tmpfs(runs, "128k"):
        done = fault_home.run("run", "--recipe", DEMO_RECIPE, "--stages", "data,sft", *sets(SMALL_TRAINING))
    _full_disk_fails_once_in_one_line(
        done, fault_home, record, "SFT checkpoint save on a full disk (runs/ on a 128 KiB tmpfs)", runs
    )


@pytest.mark.slow
def test_a_full_home_fails_in_one_line(fault_home: FaultHome, record) -> None:
    with small_tmpfs(fault_home.home, "1m"):
        done = fault_home.run("run", "--recipe", DEMO_RECIPE, "--stages", "data,knowledge")
    probe = "KNOWRL_HOME on a full disk (1 MiB tmpfs)"
    _full_disk_fails_once_in_one_line(done, fault_home, record, probe, fault_home.home)


def _full_disk_fails_once_in_one_line(done, fault_home: FaultHome, record, probe: str, path: Path) -> None:
    """A run stopped by a full disk: non-zero exit, one `error:` line naming `path`, no Prefect retry, no traceback."""
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    retried = bool(PREFECT_RETRY.search(done.stderr))
    record(
        probe,
        "exit != 0, one line naming the path, no retry",
        f"exit {done.returncode}, {len(errors)} error line(s), retried {retried}: "
        f"{errors[0].replace(str(fault_home.root), '<tmp>')[:170] if errors else done.stderr[-300:]}",
    )
    assert done.returncode != 0
    assert len(errors) == 1 and "no space left on the device holding" in errors[0] and str(path) in errors[0]
    assert not retried
    assert "Traceback" not in done.stdout + done.stderr
