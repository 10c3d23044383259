from __future__ import annotations

from pathlib import Path

import pytest

from knowrl import resources
from knowrl.config.recipe import RecipeError, resolve_recipe
from knowrl.registry import load_recipe
from tests.conftest import REPO_ROOT

RECIPES = sorted((Path(__file__).resolve().parents[3] / "recipes").glob("*.yaml"))


def test_there_are_recipes() -> None:
    assert {p.name for p in RECIPES} >= {"demo.yaml", "knowrl-7b.yaml"}


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_recipe_loads_and_validates(path: Path) -> None:
    recipe = load_recipe(path)
    assert recipe.data.rl_source and recipe.sft.base_model and recipe.evaluate.benchmarks


def test_a_recipe_is_a_path_or_a_packaged_recipes_name_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packaged = resources.recipes_dir() / "demo.yaml"
    assert (REPO_ROOT / "recipes" / "demo.yaml").resolve() == packaged  # the checkout's recipes/ is the package's
    monkeypatch.chdir(tmp_path)  # no recipes/ here: the names resolve to the packaged recipes
    for reference in ("demo", "demo.yaml", "recipes/demo.yaml"):
        assert resolve_recipe(reference) == packaged
    recipe = load_recipe("recipes/demo.yaml")
    assert Path(recipe.data.rl_source) == resources.demo_dir() / "data" / "rl.jsonl"  # its data ships beside it
    assert Path(recipe.evaluate.benchmarks[0].source).is_file()

    # A file of the user's own at that path wins over the packaged recipe.
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "demo.yaml").write_text(f"extends: {packaged}\nname: mine\n")
    assert load_recipe("recipes/demo.yaml").name == "mine"
    # Any other missing path fails, naming the packaged recipes.
    with pytest.raises(
        RecipeError, match=r"does not exist; packaged with knowrl .*'demo', 'knowrl-7b-2025-11', 'knowrl-7b-bnpo'"
    ):
        load_recipe(tmp_path / "elsewhere" / "demo.yaml")


# The authors' three versions (KNOWRL.md; their repository's history): what each recipe sets, by TRL's names.
VERSIONS = {
    # recipe: (GRPO LoRA r/alpha, batch, accumulation, generations, temperature, IS correction, prompt, rewards)
    "knowrl-7b": ((256, 512), 24, 4, 24, 0.9, False, "user_prefill", "2025-06"),
    "knowrl-7b-v1.0.0": ((256, 512), 24, 4, 12, 0.9, False, "user_prefill", "2025-10"),
    "knowrl-7b-2025-11": ((128, 256), 20, 4, 10, 1.0, True, "system_continue", "2025-10"),
}


@pytest.mark.parametrize("name", sorted(VERSIONS))
def test_each_version_recipe_has_that_versions_values(name: str) -> None:
    lora, batch, accumulation, generations, temperature, correction, style, rules = VERSIONS[name]
    g = load_recipe(name).grpo
    assert (g.lora.r, g.lora.lora_alpha, g.lora.lora_dropout) == (*lora, 0.0)
    assert g.lora.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert (g.option("per_device_train_batch_size"), g.option("gradient_accumulation_steps")) == (batch, accumulation)
    assert (g.option("num_generations"), g.option("temperature")) == (generations, temperature)
    assert g.option("vllm_importance_sampling_correction") is correction
    assert (g.prompt_style, g.reward_rules) == (style, rules)
    # The same in every version: their yaml's values, and the trainer stack's defaults that differ from TRL's now.
    same = {
        "learning_rate": 1e-5,
        "lr_scheduler_type": "cosine",
        "warmup_steps": 0.03,
        "weight_decay": 0.01,
        "optim": "adamw_8bit",
        "max_steps": 150,
        "max_completion_length": 1024,
        "beta": 0.001,
        "loss_type": "grpo",
        "scale_rewards": "group",
        "top_p": 1.0,
        "top_k": 0,
        "num_iterations": 1,
        "use_bias_correction_kl": False,
        "seed": 42,
    }
    assert {k: g.option(k) for k in same} == same
    assert g.max_prompt_tokens == 256 and [r.name for r in g.rewards] == ["format", "combined"]
    recipe = load_recipe(name)
    assert recipe.data.rl_source == "zjunlp/KnowRL-Train-Data" and recipe.data.heldout_fraction == 0.0
    sft = recipe.sft
    assert sft.base_model == "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"
    assert (sft.lora.r, sft.lora.lora_alpha, sft.lora.target_modules) == (256, 512, ["q_proj", "v_proj"])
    assert (sft.chat_template, sft.system_prompt) == ("chatml", "default")  # LLaMA-Factory's `qwen` template
    assert (sft.option("learning_rate"), sft.option("num_train_epochs"), sft.option("max_length")) == (1e-4, 4, 3072)
    assert recipe.knowledge.backend == "dense" and recipe.knowledge.dense_model.endswith("gtr-t5-large")
    assert recipe.grpo.verifier.entailment_threshold == 0.3 and recipe.grpo.verifier.top_k == 5


def test_the_variant_recipes_extend_the_current_version() -> None:
    current = load_recipe("knowrl-7b-2025-11").grpo
    dapo, bnpo, dr = (load_recipe(f"knowrl-7b-{v}").grpo for v in ("dapo", "bnpo", "dr-grpo"))
    assert (dapo.option("loss_type"), dapo.option("epsilon_high"), dapo.option("scale_rewards")) == (
        "dapo",
        0.28,
        "none",
    )
    assert dapo.option("mask_truncated_completions") is True and dapo.max_prompt_tokens == 512
    assert (dr.option("loss_type"), dr.option("scale_rewards")) == ("dr_grpo", "none")
    assert bnpo.option("loss_type") == "grpo"  # as their bnpo.yaml ran under Unsloth (see the recipe)
    for variant in (dapo, bnpo, dr):
        assert (variant.option("max_steps"), variant.option("gradient_accumulation_steps")) == (500, 2)
        assert variant.lora == current.lora and variant.prompt_style == current.prompt_style


def test_overrides_are_validated_like_the_file() -> None:
    demo = RECIPES[0].parent / "demo.yaml"
    recipe = load_recipe(demo, ["grpo.beta=0.04", "sft.lora.r=8", "data.rules.dedupe_questions=false"])
    assert recipe.grpo.option("beta") == 0.04 and recipe.sft.lora.r == 8
    assert recipe.data.rules.dedupe_questions is False
    with pytest.raises(RecipeError, match=r"grpo\.max_prompt_tokens"):
        load_recipe(demo, ["grpo.max_prompt_tokens=-1"])
    with pytest.raises(RecipeError, match=r"data\.rules\.dedupe_qestions"):
        load_recipe(demo, ["data.rules.dedupe_qestions=false"])  # TRL's option names: tests/knowrl/train
    with pytest.raises(RecipeError, match="section.key=value"):
        load_recipe(demo, ["nonsense"])


def test_generation_batch_must_divide_num_generations() -> None:
    with pytest.raises(RecipeError, match="divisible by num_generations"):
        load_recipe(RECIPES[0].parent / "demo.yaml", ["grpo.num_generations=3"])


def test_missing_recipe_lists_what_exists(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(tmp_path / "nope.yaml")


def test_relative_paths_resolve_against_the_recipe(tmp_path: Path) -> None:
    recipe = load_recipe(RECIPES[0].parent / "demo.yaml")
    assert Path(recipe.data.rl_source).is_absolute() and Path(recipe.data.rl_source).exists()


def test_extends_merges_the_parent_recipe(tmp_path) -> None:
    parent = REPO_ROOT / "recipes" / "demo.yaml"
    child = tmp_path / "child.yaml"
    child.write_text(f"extends: {parent}\nname: child\ngrpo:\n  max_steps: 3\n  epsilon_high: 0.28\n")
    recipe = load_recipe(child)
    assert recipe.name == "child" and recipe.grpo.option("max_steps") == 3
    assert recipe.grpo.option("epsilon_high") == 0.28
    assert recipe.grpo.option("num_generations") == 8  # from the parent
    assert recipe.data.rl_source.endswith("demo/data/rl.jsonl")  # the parent's relative paths, resolved by it
    loop = tmp_path / "loop.yaml"
    loop.write_text("extends: loop.yaml\n")
    with pytest.raises(RecipeError, match="extends itself"):
        load_recipe(loop)


def test_two_benchmarks_of_one_kind_need_labels() -> None:
    twice = ["evaluate.benchmarks=[{name: simpleqa, source: a.csv}, {name: simpleqa, source: b.csv}]"]
    with pytest.raises(RecipeError, match=r"benchmarks \['simpleqa'\] appear twice: give each a distinct `label`"):
        load_recipe(REPO_ROOT / "recipes" / "demo.yaml", twice)


def test_scientific_notation_without_a_dot_is_a_number_in_files_and_overrides(tmp_path: Path) -> None:
    # PyYAML (YAML 1.1) reads 1e-3 as a string; a TRL option passes through untyped and would reach the optimizer as
    # text ("'<=' not supported between 'float' and 'str'" after SFT's data loading).
    recipe_file = tmp_path / "r.yaml"
    recipe_file.write_text(
        (resources.recipes_dir() / "demo.yaml").read_text().replace("learning_rate: 1.0e-3", "learning_rate: 5e-3")
    )
    recipe = load_recipe(recipe_file, ["grpo.learning_rate=1e-4", "grpo.hub_model_id='1e5'"])
    assert recipe.sft.option("learning_rate") == 5e-3
    assert recipe.grpo.option("learning_rate") == 1e-4
    assert recipe.grpo.option("hub_model_id") == "1e5"  # quoted stays text
