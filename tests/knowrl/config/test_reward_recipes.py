"""The recipes of the rewards beyond KnowRL: each extends the paper recipe and changes only what its reward needs."""

from __future__ import annotations

import pytest

from knowrl.registry import load_recipe
from knowrl.rewards.registry import REWARD_FUNCTIONS, check_reward_names

VARIANTS = {
    "knowrl-7b-truthrl": (["format", "truthfulness"], "sum_then_normalize"),
    "knowrl-7b-rar": (["format", "binary_rar"], "normalize_then_sum"),
    "knowrl-7b-rlcr": (["format", "calibration"], "sum_then_normalize"),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_each_reward_recipe_extends_the_paper_recipe(name: str) -> None:
    paper, recipe = load_recipe("knowrl-7b"), load_recipe(name)
    rewards, aggregation = VARIANTS[name]
    grpo = recipe.grpo
    assert [r.name for r in grpo.rewards] == rewards and all(r in REWARD_FUNCTIONS for r in rewards)
    check_reward_names(grpo.rewards)
    assert grpo.option("multi_objective_aggregation") == aggregation  # TRL's own option name
    assert grpo.reward_rules == "2025-10" and grpo.prompt_style == "system"
    # Everything else is the paper recipe's: model, LoRA, batch, generations, KL, verifier, evaluation.
    assert recipe.sft == paper.sft and recipe.evaluate == paper.evaluate and recipe.data == paper.data
    assert grpo.lora == paper.grpo.lora and grpo.verifier == paper.grpo.verifier and grpo.judge == paper.grpo.judge
    for option in ("num_generations", "per_device_train_batch_size", "beta", "learning_rate", "max_steps"):
        assert grpo.option(option) == paper.grpo.option(option)


def test_the_rar_recipe_sets_its_contradiction_threshold() -> None:
    [_, rar] = load_recipe("knowrl-7b-rar").grpo.rewards
    assert (rar.name, rar.contradiction_threshold) == ("binary_rar", 0.5)
    assert load_recipe("knowrl-7b-rar").grpo.verifier.backend == "nli"  # P(contradiction) from the NLI model
