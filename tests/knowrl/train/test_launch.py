from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from knowrl import resources
from knowrl.registry import load_recipe
from knowrl.resources import ResourceError
from knowrl.train.launch import gpus_to_launch, launch_command


def test_launch_command_uses_the_packaged_deepspeed_config(tmp_path: Path) -> None:
    command = launch_command(tmp_path / "spec.json", tmp_path / "out.json", 4, "zero3")
    assert command[1:4] == ["-m", "accelerate.commands.launch", "--num_processes"] and "4" in command
    config = Path(command[command.index("--deepspeed_config_file") + 1])
    assert config.name == "zero3.json" and config.is_relative_to(resources.root()) and config.exists()
    assert command[-3:] == ["knowrl.train.launch", str(tmp_path / "spec.json"), str(tmp_path / "out.json")]
    with pytest.raises(ResourceError, match=r"'zero9'.*choose one of \['zero2', 'zero3'\]"):
        launch_command(tmp_path / "s", tmp_path / "o", 2, "zero9")


def test_single_process_without_several_gpus_or_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    assert gpus_to_launch(None) == 0
    assert gpus_to_launch("zero2") == 0  # CPU here: no launcher
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert gpus_to_launch("zero2") == 0  # already a launched rank


@pytest.mark.parametrize("zero", ["zero2", "zero3"])
def test_packaged_zero_configs_are_complete_for_the_trainer_and_deepspeed(
    zero: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `deepspeed: zero2|zero3` hands the Trainer: a packaged config whose "auto" values the Trainer fills in
    from the recipe's own settings and the model, and whose ZeRO section the installed DeepSpeed accepts (it
    imports and validates on a CPU-only machine too)."""
    from deepspeed.runtime.zero.config import DeepSpeedZeroConfig
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig
    from trl import SFTConfig

    from knowrl.train.settings import build_trl_config, trl_arguments
    from knowrl.train.sft import SFT_STAGE_ARGS

    recipe = load_recipe("knowrl-7b", [f"sft.deepspeed={zero}"])
    monkeypatch.setenv("WORLD_SIZE", "4")  # as `accelerate launch` sets it in each rank
    assert trl_arguments(recipe.sft, tmp_path, SFT_STAGE_ARGS)["deepspeed"] == str(resources.deepspeed_config(zero))
    monkeypatch.delenv("WORLD_SIZE")  # one process: no ZeRO (and DeepSpeed's CPU init is not tried here)
    assert "deepspeed" not in trl_arguments(recipe.sft, tmp_path, SFT_STAGE_ARGS)
    ds = HfTrainerDeepSpeedConfig(str(resources.deepspeed_config(zero)))
    training_args = build_trl_config(SFTConfig, recipe.sft, tmp_path, SFT_STAGE_ARGS)
    ds.trainer_config_process(training_args)
    ds.trainer_config_finalize(training_args, SimpleNamespace(config=SimpleNamespace(hidden_size=3584)), 150)
    assert '"auto"' not in json.dumps(ds.config), ds.config
    assert ds.config["train_micro_batch_size_per_gpu"] == recipe.sft.option("per_device_train_batch_size")
    assert ds.config["gradient_accumulation_steps"] == recipe.sft.option("gradient_accumulation_steps")
    zero_config = DeepSpeedZeroConfig(**ds.config["zero_optimization"])
    assert int(zero_config.stage) == int(zero[-1])
    # ZeRO-3 shards the weights: trainer.save_model writes a loadable model only when they are gathered on save.
    assert zero_config.gather_16bit_weights_on_model_save is (zero == "zero3")
