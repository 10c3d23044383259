"""Every recipe setting reaches TRL's config: the named fields under TRL's names, and `trl_args` as given."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowrl.config.recipe import RecipeError, load_recipe
from knowrl.config.stages import GRPOStageConfig, SFTStageConfig
from knowrl.train.grpo import grpo_args
from knowrl.train.settings import TrainerOptionError, trl_config
from knowrl.train.sft import sft_args
from tests.conftest import REPO_ROOT

RECIPES = sorted((REPO_ROOT / "recipes").glob("*.yaml"))
# Settings whose value TRL stores differently on this CPU-only machine, with the reason.
ON_CPU = {
    "bf16": "a CPU cannot run bf16: the stage turns it off there",
    "use_vllm": "vLLM is used only where it is installed (GPU workers)",
    "deepspeed": "passed as the path of the ZeRO config file in recipes/deepspeed/",
    "warmup_steps": "transformers 5 reads a float in [0, 1) as a ratio of the steps",
    "use_cpu": "'auto' becomes True where no GPU is found",
}


def _check(stage_cfg: SFTStageConfig | GRPOStageConfig, args: dict, config: object) -> None:
    for ours, trl_name in stage_cfg.TRL_NAMES.items():
        value = getattr(stage_cfg, ours)
        if trl_name in ON_CPU or value is None:
            continue
        assert getattr(config, trl_name) == value, f"{ours} -> {trl_name}"
    for key, value in stage_cfg.trl_args.items():
        assert args[key] == value and getattr(config, key) is not None, key


@pytest.mark.parametrize("recipe_path", RECIPES, ids=[p.stem for p in RECIPES])
def test_every_recipe_key_reaches_the_trainer_config(recipe_path: Path, tmp_path: Path) -> None:
    from trl import GRPOConfig, SFTConfig

    recipe = load_recipe(recipe_path)
    sft = sft_args(recipe.sft, tmp_path / "sft")
    _check(recipe.sft, sft, trl_config(SFTConfig, {**sft, "deepspeed": None}))
    grpo = grpo_args(recipe.grpo, tmp_path / "grpo")
    config = trl_config(GRPOConfig, {**grpo, "deepspeed": None})
    _check(recipe.grpo, grpo, config)
    assert config.reward_weights == [r.weight for r in recipe.grpo.rewards]


def test_paper_recipe_values() -> None:
    recipe = load_recipe(REPO_ROOT / "recipes" / "knowrl-7b.yaml")
    g, s = recipe.grpo, recipe.sft
    assert g.lora.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert (g.lora.r, g.lora.alpha, g.lora.dropout) == (128, 256, 0.0)
    assert (g.loss_type, g.temperature, g.seed, g.beta, g.learning_rate) == ("bnpo", 0.9, 42, 0.001, 1e-5)
    assert (g.per_device_batch, g.grad_accum, g.num_generations, g.max_steps) == (20, 4, 10, 150)
    assert (g.max_prompt_tokens, g.max_completion_length, g.optim) == (256, 1024, "adamw_8bit")
    assert recipe.data.heldout_fraction == 0.0  # all 3,177 rows
    assert (s.lora.r, s.lora.alpha, s.lora.target_modules) == (256, 512, ["q_proj", "v_proj"])
    assert (s.num_epochs, s.learning_rate, s.warmup_ratio, s.max_length) == (4, 1e-4, 0.1, 3072)
    assert recipe.knowledge.backend == "dense" and recipe.knowledge.dense_model.endswith("gtr-t5-large")
    dapo = load_recipe(REPO_ROOT / "recipes" / "knowrl-7b-dapo.yaml").grpo
    assert dapo.loss_type == "dapo" and dapo.trl_args["epsilon_high"] == 0.28 and dapo.lora == g.lora


def test_trl_option_values_are_checked_by_trl(tmp_path: Path) -> None:
    from trl import GRPOConfig

    recipe = load_recipe(REPO_ROOT / "recipes" / "demo.yaml", ["grpo.trl_args.auto_find_batch_size=true"])
    with pytest.raises(TrainerOptionError, match="GRPOConfig rejected the recipe's options"):
        trl_config(GRPOConfig, grpo_args(recipe.grpo, tmp_path))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("grpo.trl_args.beta=0.1", "trl_args.beta is set by the field `beta`"),
        ("grpo.trl_args.epsilon_hgh=0.3", "did you mean epsilon_high"),
        ("grpo.trl_args.output_dir=/tmp/x", "set by knowrl itself"),
        ("sft.trl_args.num_generations=4", "not an option of TRL's SFTConfig"),
    ],
)
def test_trl_args_names_are_checked_when_the_recipe_loads(override: str, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        load_recipe(REPO_ROOT / "recipes" / "demo.yaml", [override])
