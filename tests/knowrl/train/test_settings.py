"""Every recipe's TRL options reach TRL's config as the recipe states them; names are checked against the installed
TRL (with "did you mean") before any stage computes; our former names and the options the stage controls fail when
the recipe loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowrl.config.recipe import RecipeError
from knowrl.pipeline.plan import RunPlan
from knowrl.registry import REGISTRY, load_recipe
from knowrl.train.grpo import grpo_stage_args
from knowrl.train.preflight import check_grpo, check_sft
from knowrl.train.settings import TrainerOptionError, build_trl_config, hardware_adjustments, lora_config
from knowrl.train.sft import SFT_STAGE_ARGS
from storage import Paths
from tests.conftest import REPO_ROOT

RECIPES = sorted((REPO_ROOT / "recipes").glob("*.yaml"))
# vLLM is used only where it is installed (GPU workers); on this CPU-only machine the stage's hardware
# adjustments (full precision, a CPU optimizer: `hardware_adjustments`) apply, and reach TRL's config as adjusted.
NOT_HERE = {"use_vllm"}


def _reaches(section: object, config: object) -> None:
    adjusted = hardware_adjustments(section)
    for name, value in section.trl_options.items():
        if name in NOT_HERE:
            continue
        held = getattr(config, name)
        held = held.value if hasattr(held, "value") else held  # TRL keeps some options as enums
        expected = adjusted.get(name, value)
        assert held == expected, f"{name}: recipe {value!r} (here {expected!r}), TRL's config {held!r}"


@pytest.mark.parametrize("recipe_path", RECIPES, ids=[p.stem for p in RECIPES])
def test_every_recipe_option_reaches_the_trainer_config(recipe_path: Path, tmp_path: Path) -> None:
    from trl import GRPOConfig, SFTConfig

    recipe = load_recipe(recipe_path)
    _reaches(recipe.sft, build_trl_config(SFTConfig, recipe.sft, tmp_path / "sft", SFT_STAGE_ARGS))
    config = build_trl_config(GRPOConfig, recipe.grpo, tmp_path / "grpo", grpo_stage_args(recipe.grpo))
    _reaches(recipe.grpo, config)
    assert config.reward_weights == [r.weight for r in recipe.grpo.rewards]
    assert config.output_dir == str(tmp_path / "grpo") and config.save_strategy == "steps"
    for lora in (recipe.sft.lora, recipe.grpo.lora):
        peft = lora_config(lora)
        assert (peft.r, peft.lora_alpha, peft.lora_dropout) == (lora.r, lora.lora_alpha, lora.lora_dropout)


def test_trl_option_values_are_checked_before_any_stage_computes(tmp_path: Path) -> None:
    # A value TRL's config refuses, with TRL's reason.
    refused = load_recipe(REPO_ROOT / "recipes" / "demo.yaml", ["grpo.auto_find_batch_size=true"])
    with pytest.raises(TrainerOptionError, match="GRPOConfig rejected the recipe's grpo options"):
        check_grpo(refused.grpo)
    # A value TRL would refuse only at its first training step: checked against the values its help lists.
    unknown = load_recipe(REPO_ROOT / "recipes" / "demo.yaml", ["grpo.loss_type=ppo"])
    with pytest.raises(
        TrainerOptionError, match=r"grpo\.loss_type='ppo' is not a value TRL supports \(bnpo, cispo, dapo"
    ):
        check_grpo(unknown.grpo)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("grpo.epsilon_hgh=0.3", r"grpo\.epsilon_hgh \(did you mean epsilon_high"),
        ("grpo.learnig_rate=1e-5", r"did you mean learning_rate"),
        ("sft.num_generations=4", r"sft\.num_generations: not an option of trl's SFTConfig"),
        ("grpo.lora.lora_alhpa=4", r"lora\.lora_alhpa \(did you mean lora_alpha"),
    ],
)
def test_trl_names_are_checked_before_any_stage_computes(override: str, message: str, tmp_path: Path) -> None:
    recipe = load_recipe(REPO_ROOT / "recipes" / "demo.yaml", [override])  # the recipe loads without TRL
    with pytest.raises(TrainerOptionError, match=message):
        check_sft(recipe.sft)
        check_grpo(recipe.grpo)


def test_a_passed_preflight_is_remembered_until_the_section_changes(tmp_path: Path, monkeypatch) -> None:
    import knowrl.train.preflight

    paths = Paths(tmp_path)
    checked: list[str] = []
    monkeypatch.setattr(knowrl.train.preflight, "check_grpo", lambda cfg: checked.append("grpo"))
    monkeypatch.setattr(knowrl.train.preflight, "check_sft", lambda cfg: checked.append("sft"))
    RunPlan.create(REGISTRY, "demo", ["sft", "grpo"], paths=paths).preflight()
    assert checked == ["sft", "grpo"] and len(list((tmp_path / "preflight").iterdir())) == 2
    RunPlan.create(REGISTRY, "demo", ["sft", "grpo"], paths=paths).preflight()
    assert checked == ["sft", "grpo"]  # remembered: no TRL import for a run of the same sections
    RunPlan.create(REGISTRY, "demo", ["sft", "grpo"], overrides=["grpo.beta=0.01"], paths=paths).preflight()
    assert checked == ["sft", "grpo", "grpo"]  # GRPO's section changed: checked again, SFT's did not


def test_no_pass_is_remembered_while_a_check_fails(tmp_path: Path) -> None:
    plan = RunPlan.create(REGISTRY, "demo", overrides=["grpo.epsilon_hgh=0.3"], paths=Paths(tmp_path))
    with pytest.raises(TrainerOptionError):
        plan.preflight()
    assert not (tmp_path / "preflight").exists()  # SFT passed, but nothing is written until all pass


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("grpo.per_device_batch=8", "grpo.per_device_batch is now grpo.per_device_train_batch_size"),
        ("sft.num_epochs=2", "sft.num_epochs is now sft.num_train_epochs"),
        ("grpo.trl_args={}", "grpo.trl_args is gone: put each of its options directly under grpo:"),
        ("sft.lora.alpha=8", "lora.alpha is now lora.lora_alpha"),
        ("grpo.output_dir=/tmp/x", "grpo.output_dir is set by knowrl"),
        ("grpo.reward_weights=[1, 2]", "set by the weights in grpo.rewards"),
        ("sft.assistant_only_loss=false", "builds the loss mask itself"),
    ],
)
def test_old_names_and_stage_controlled_options_fail_when_the_recipe_loads(override: str, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        load_recipe(REPO_ROOT / "recipes" / "demo.yaml", [override])


def test_a_batch_that_num_generations_does_not_divide_fails_at_load() -> None:
    with pytest.raises(RecipeError, match="must be divisible by num_generations=8"):
        load_recipe(REPO_ROOT / "recipes" / "demo.yaml", ["grpo.per_device_train_batch_size=12"])
