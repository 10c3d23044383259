"""The paper recipe itself (`recipes/knowrl-7b.yaml`, the authors' June 2025 version), rehearsed end to end on CPU
through the flow, overriding only sizes (steps, generations, lengths, batches, items), the endpoints and the model's
weights, never a method setting:

- every Hub artifact the recipe names is served by the local Hub test server, downloaded through the real clients
  from its real repository layout: DeepSeek-R1-Distill-Qwen-7B (a tiny model with the R1-Distill tokenizer's
  properties and a chat template that drops the reasoning), the KnowRL training files and knowledge base, the NLI
  verifier (a tiny DeBERTa-v2 of the same architecture) and gtr-t5-large (a tiny sentence-transformers model of the
  same shape), SimpleQA, Chinese SimpleQA, TruthfulQA's generation configuration, GPQA diamond (gated: HF_TOKEN) and
  AIME 2025 with its two configurations;
- the judge and the extractor are an OpenAI-compatible server that answers HTTP 429 past its request quota, which
  the recipe's endpoints are given: the run must never draw one.

It asserts what reached the trainers and the evaluator: the TRL configs used equal the recipe's values except the
overridden sizes (and the CPU's documented adjustments); the cold start's loss mask covers every row's reasoning;
the GRPO prompts have the authors' June 2025 shape; every benchmark read all its configurations; tokens were counted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import knowrl.train.grpo
import knowrl.train.settings
import knowrl.train.sft
from knowrl.method.prompts import FORMAT_INSTRUCTION, PREFILL
from knowrl.registry import load_recipe
from knowrl.train.settings import hardware_adjustments
from storage import Paths, open_warehouse
from storage.llm_usage import LLMUsage
from tests.support import hub_clients, hub_server
from tests.support.hub_layouts import PAPER_REPOS, knowledge_pages, knowrl_rows, register
from tests.support.openai_server import Script, ScriptedOpenAIServer, knowrl_responder
from tests.support.tiny_deberta_nli import build_tiny_deberta_nli
from tests.support.tiny_r1 import build_tiny_r1
from tests.support.tiny_sentence_encoder import build_tiny_sentence_encoder

pytestmark = pytest.mark.slow
local_hub = hub_clients.local_hub

ROWS = 8  # of each KnowRL training file
QUOTA = 10  # the judge endpoint's requests per minute: the run makes about 15 calls, so it waits once
SIZES = {
    "sft": {
        "max_steps": 2,
        "per_device_train_batch_size": 2,
        "max_length": 384,
        "sample_prompts": 2,
        "sample_max_new_tokens": 8,
    },
    "grpo": {
        "max_steps": 2,
        "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 1,
        "num_generations": 2,
        "max_completion_length": 24,
        "max_prompt_tokens": 1024,  # our tiny tokenizer spends more tokens per word than the real one
    },
}


def _benchmark_sizes(recipe: Any) -> list[dict]:
    """The recipe's own benchmark list with sizes only changed: 3 items (of each configuration), short outputs,
    at most 2 samples."""
    benchmarks = []
    for spec in recipe.evaluate.benchmarks:
        sized = spec.model_dump(mode="json", exclude_none=True)
        sized.update(limit=3, samples=min(spec.samples, 2))
        if "max_new_tokens" in sized:
            sized["max_new_tokens"] = 12
        benchmarks.append(sized)
    return benchmarks


def _overrides(recipe: Any, judge_url: str) -> list[str]:
    sets = [f"{stage}.{key}={json.dumps(value)}" for stage, values in SIZES.items() for key, value in values.items()]
    sets += ["evaluate.max_new_tokens=12", "evaluate.batch_size=4", "evaluate.bootstrap_samples=50"]
    sets.append(f"evaluate.benchmarks={json.dumps(_benchmark_sizes(recipe))}")
    for section in ("grpo.judge", "grpo.extractor", "evaluate.judge"):
        sets += [f"{section}.endpoint.base_url={judge_url}", f"{section}.endpoint.requests_per_minute={QUOTA}"]
    sets.append("publish.force=true")  # the gate judges a model's quality: a tiny random model is not the point
    return sets


def _serve_models(hub: hub_server.LocalHubServer, root: Path, texts: list[str]) -> None:
    hub.add_model("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", build_tiny_r1(root / "r1", texts))
    hub.add_model("MoritzLaurer/DeBERTa-v3-base-mnli-fever-anli", build_tiny_deberta_nli(root / "nli", texts=texts))
    hub.add_model("sentence-transformers/gtr-t5-large", build_tiny_sentence_encoder(root / "gtr"))


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, list]:
    """What the stages hand to TRL: the configs they build, the SFT examples, the GRPO rows."""
    seen: dict[str, list] = {"configs": [], "sft": [], "grpo": []}
    build, examples, rows = (
        knowrl.train.settings.build_trl_config,
        knowrl.train.sft.sft_examples,
        knowrl.train.grpo.grpo_rows,
    )

    def record_config(config_class, cfg, output_dir, stage_args):
        config = build(config_class, cfg, output_dir, stage_args)
        seen["configs"].append((config_class.__name__, config))
        return config

    def record_examples(tokenizer, source_rows, cfg):
        made = examples(tokenizer, source_rows, cfg)
        seen["sft"].append((tokenizer, source_rows, *made))
        return made

    def record_rows(*args, **kwargs):
        made = rows(*args, **kwargs)
        seen["grpo"].append((args[3], made))
        return made

    for module in (knowrl.train.sft, knowrl.train.grpo):
        monkeypatch.setattr(module, "build_trl_config", record_config)
    monkeypatch.setattr(knowrl.train.sft, "sft_examples", record_examples)
    monkeypatch.setattr(knowrl.train.grpo, "grpo_rows", record_rows)
    return seen


def test_the_paper_recipe_runs_as_the_authors_ran_it(
    prefect_harness, local_hub, captured, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.knowrl_flow import knowrl

    layouts = tmp_path / "layouts"
    for repo_id in PAPER_REPOS:
        register(local_hub, repo_id, layouts)
    rl_rows, coldstart_rows = knowrl_rows(ROWS)
    texts = [t["value"] for r in coldstart_rows for t in r["conversations"]]
    texts += [r["question"] for r in rl_rows] + [p for ps in knowledge_pages(rl_rows).values() for p in ps]
    _serve_models(local_hub, tmp_path / "models", texts)
    monkeypatch.setenv("HF_TOKEN", "hf_rehearsal_token")  # GPQA is gated
    monkeypatch.setenv("OPENAI_API_KEY", "sk-rehearsal")
    recipe = load_recipe("knowrl-7b")

    script = Script(knowrl_responder, reported_model="gpt-4o-mini-2024-07-18", requests_per_minute=QUOTA)
    with ScriptedOpenAIServer(script) as judge:
        refs = knowrl(recipe="knowrl-7b", overrides=_overrides(recipe, judge.base_url))
        requests, outcomes = judge.stats.requests, dict(judge.stats.outcomes)

    # The judge's quota was respected: calls waited for it instead of drawing a 429.
    assert requests > QUOTA and "http_429" not in outcomes, outcomes

    # Every artifact came from the Hub by a real download, from its real layout.
    served = " ".join(local_hub.state.downloads)
    for name in (
        "knowrl_RLdata.json",
        "knowrl_coldstart.json",
        "knowledge_base.db",
        "simple_qa_test_set.csv",
        "gpqa_diamond.csv",
        "aime2025-I.jsonl",
        "aime2025-II.jsonl",
        "generation/validation-00000-of-00001.parquet",
        "DeepSeek-R1-Distill-Qwen-7B@",
        "DeBERTa-v3-base-mnli-fever-anli@",
        "gtr-t5-large@",
    ):
        assert name in served, name
    assert refs["data"].rl.n_accepted == ROWS and refs["data"].coldstart.n_accepted == ROWS

    # The TRL configs: the recipe's values, but for the overridden sizes and what a CPU cannot run.
    configs = dict(captured["configs"])
    for section, name in (("sft", "SFTConfig"), ("grpo", "GRPOConfig")):
        cfg = recipe.stage_config(section)
        adjusted = {**hardware_adjustments(cfg), "use_vllm": False}  # vLLM is not installed here
        for option, value in cfg.trl_options.items():
            if option in SIZES[section] or option in ("deepspeed",):
                continue
            held = getattr(configs[name], option)
            held = held.value if hasattr(held, "value") else held
            assert held == adjusted.get(option, value), f"{section}.{option}: {held!r} != {value!r}"
        for option, value in SIZES[section].items():
            if hasattr(configs[name], option):
                assert getattr(configs[name], option) == value
    assert configs["GRPOConfig"].loss_type == "grpo" and configs["GRPOConfig"].temperature == 0.9

    # The cold start: ChatML as LLaMA-Factory's qwen template, and every row's reasoning under the loss.
    ((tokenizer, rows, examples, used),) = captured["sft"]
    assert used.chat_template == "chatml" and used.system.startswith("You are Qwen")
    for row, example in zip(rows, examples, strict=True):
        masked = [t for t, m in zip(example["input_ids"], example["assistant_masks"], strict=True) if m]
        reasoning = row["response"].split("<think>", 1)[1].split("</think>", 1)[0].strip()
        assert reasoning and reasoning in tokenizer.decode(masked)

    # GRPO's prompts: the authors' June 2025 shape (user turn with the format instruction, answer prefilled to
    # <think>), a string without the BOS the tokenizer adds itself.
    ((grpo_cfg, grpo_rows),) = captured["grpo"]
    assert grpo_cfg.prompt_style == "user_prefill" and grpo_cfg.reward_rules == "2025-06"
    for row in grpo_rows:
        assert row["prompt"] == f"<｜User｜>{row['question']}\n\n{FORMAT_INSTRUCTION}<｜Assistant｜>{PREFILL}"

    # Evaluation: every configuration of every benchmark, tokens counted per role.
    comparison = refs["evaluate"].comparison
    assert set(comparison) == {"simpleqa", "chinese_simpleqa", "truthfulqa", "gpqa", "aime"}
    assert comparison["aime"]["configs"] == ["AIME2025-I", "AIME2025-II"] and comparison["aime"]["items"] == 6
    assert comparison["aime"]["generation"]["samples"] == 2 and "spread" in comparison["aime"]["metrics"]["accuracy"]
    usage = LLMUsage(open_warehouse(Paths.from_env()))
    for stage, key in (("grpo", refs["grpo"].run_key), ("evaluate", refs["evaluate"].artifact_id)):
        rows = usage.rows(stage, key)
        assert rows and any(r["prompt_tokens"] > 0 for r in rows), (stage, rows)
    called = [r for r in refs["grpo"].metrics["llm_usage"] if r["role"] in ("judge", "extractor") and r["calls"]]
    assert called and {r["reported_models"] for r in called} == {"gpt-4o-mini-2024-07-18"}

    # Publish pushed the bundle to the (local) Hub, its card showing the June 2025 prompt and the judges' tokens.
    assert refs["publish"].pushed and refs["publish"].repo_id == recipe.publish.repo_id
    card = (Path(refs["publish"].bundle_path) / "README.md").read_text()
    assert "`user_prefill` style" in card and "gpt-4o-mini-2024-07-18" in card
    lineage = json.loads((Path(refs["publish"].bundle_path) / "knowrl_lineage.json").read_text())
    assert {j["model"] for j in lineage["judges"]["grpo"] if j["role"] == "judge"} == {"gpt-4o-mini"}
    assert yaml.safe_load(card.split("```yaml\n", 1)[1].split("```", 1)[0])["name"] == "knowrl-7b"
