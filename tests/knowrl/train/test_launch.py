from __future__ import annotations

from pathlib import Path

import pytest

from knowrl.train.launch import gpus_to_launch, launch_command


def test_launch_command_uses_the_repo_deepspeed_config(tmp_path: Path) -> None:
    command = launch_command(tmp_path / "spec.json", tmp_path / "out.json", 4, "zero3")
    assert command[1:4] == ["-m", "accelerate.commands.launch", "--num_processes"] and "4" in command
    config = Path(command[command.index("--deepspeed_config_file") + 1])
    assert config.name == "zero3.json" and config.exists()
    assert command[-3:] == ["knowrl.train.launch", str(tmp_path / "spec.json"), str(tmp_path / "out.json")]
    with pytest.raises(FileNotFoundError, match="zero2.json and zero3.json"):
        launch_command(tmp_path / "s", tmp_path / "o", 2, "zero9")


def test_single_process_without_several_gpus_or_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    assert gpus_to_launch(None) == 0
    assert gpus_to_launch("zero2") == 0  # CPU here: no launcher
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert gpus_to_launch("zero2") == 0  # already a launched rank


def test_deepspeed_imports_on_cpu() -> None:
    import deepspeed

    assert deepspeed.__version__ and deepspeed.get_accelerator().device_name() in ("cpu", "cuda")
