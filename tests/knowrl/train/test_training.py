"""SFT and GRPO through the real TRL trainers on the tiny local model; resume after a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

import knowrl.train.callbacks
from knowrl.method.prompts import chat_messages
from knowrl.registry import load_recipe
from knowrl.train.checkpoints import COMPLETE_MARKER, last_complete_checkpoint
from knowrl.train.config import GRPOStageConfig, SFTStageConfig
from knowrl.train.grpo import run_grpo_stage
from knowrl.train.sft import run_sft_stage
from storage.training_logs import TrainingLogs
from tests.conftest import DEMO, REPO_ROOT

LORA = {"r": 16, "lora_alpha": 32, "target_modules": ["all-linear"], "modules_to_save": ["norm"]}


def sft_cfg(base: Path, **kw) -> SFTStageConfig:
    values = {
        "base_model": str(base),
        "max_steps": 6,
        "per_device_train_batch_size": 4,
        "gradient_checkpointing": False,
        "seed": 0,
        "learning_rate": 5e-3,
        "max_length": 256,
        "save_steps": 3,
        "logging_steps": 1,
        "lora": LORA,
        "sample_prompts": 4,
        "sample_max_new_tokens": 24,
    }
    values.update(kw)
    return SFTStageConfig(**values)


def grpo_cfg(**kw) -> GRPOStageConfig:
    values = {
        "max_steps": 3,
        "per_device_train_batch_size": 4,
        "gradient_checkpointing": False,
        "seed": 0,
        "num_generations": 4,
        "max_completion_length": 24,
        "learning_rate": 1e-3,
        "beta": 0.001,
        "save_steps": 2,
        "logging_steps": 1,
        "lora": LORA,
    }
    values.update(kw)
    return GRPOStageConfig(**values)


def crash_once_at(monkeypatch: pytest.MonkeyPatch, step: int) -> None:
    """The training loop raises at `step` the first time it gets there: a worker dying mid-run."""
    original = knowrl.train.callbacks.ProgressCallback.on_step_end
    crashed: list[int] = []

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == step and not crashed:
            crashed.append(step)
            raise RuntimeError(f"simulated crash at step {step}")
        return original(self, args, state, control, **kwargs)

    monkeypatch.setattr(knowrl.train.callbacks.ProgressCallback, "on_step_end", on_step_end)


def _generates(model_dir: str, adapter: str | None = None) -> str:
    """What the model (with `adapter` on top, if given) writes after the prompt, greedily: the new tokens only. The
    prompt already ends with the assistant's header, so decoding it with them would show the header whatever the
    model does."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    prompt = tokenizer.apply_chat_template(
        chat_messages("Who discovered penicillin?"), tokenize=False, add_generation_prompt=True
    )
    encoded = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    out = model.generate(**encoded, max_new_tokens=12, do_sample=False)
    return tokenizer.decode(out[0][encoded["input_ids"].shape[1] :])


def _coldstart_nll(model_dir: str, adapter: str | None = None, rows: int = 8) -> float:
    """Mean loss of the model (with `adapter` on top, if given) on the first cold-start conversations, as the chat
    template renders them: what SFT lowers."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    conversations = json.loads((DEMO / "data" / "coldstart.json").read_text())[:rows]
    losses = []
    for row in conversations:
        question, answer = (turn["value"] for turn in row["conversations"][:2])
        messages = [*chat_messages(question), {"role": "assistant", "content": answer}]
        text = tokenizer.apply_chat_template(messages, tokenize=False)
        ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            losses.append(float(model(input_ids=ids, labels=ids).loss))
    return sum(losses) / len(losses)


def assert_generates_as_trained(base: str, merged: str, adapter: str) -> None:
    """The merged model writes what the base model with the trained adapter writes (merging kept the training), and
    it fits the cold-start conversations better than the base model (training changed it; what it writes for one
    prompt may not change when the tiny model's pretraining already answers it). A model that was not trained fails:
    `test_the_generation_checks_fail_for_a_model_that_was_not_trained`."""
    written = _generates(merged)
    assert written.strip(), "the merged model wrote nothing"
    assert written == _generates(base, adapter), "the merged weights do not generate as base + adapter"
    # Relative: the demo's base already fits the cold start closely (NLL ~0.10: pretrained on the same facts); 6 SFT
    # steps lowered it by 3.4%, an untrained adapter by nothing.
    trained, untrained = _coldstart_nll(merged), _coldstart_nll(base)
    assert trained < 0.99 * untrained, (
        f"the model fits the cold start no better than the base model: {trained:.4f} vs {untrained:.4f}"
    )


def _weights_differ(a: str, b: str) -> bool:
    first = AutoModelForCausalLM.from_pretrained(a).state_dict()
    second = AutoModelForCausalLM.from_pretrained(b).state_dict()
    return any(not torch.equal(first[k], second[k]) for k in first if k in second)


def test_sft_trains_and_its_artifacts_load_and_generate(ctx, demo_data_ref, tiny_model_dir: Path) -> None:
    ref = run_sft_stage(sft_cfg(tiny_model_dir), {"data": demo_data_ref}, ctx, "test")
    assert ref.metrics["steps"] == 6 and ref.metrics["tokens_seen"] > 0
    assert _weights_differ(str(tiny_model_dir), ref.model_path)
    assert (Path(ref.adapter_path) / "adapter_config.json").exists()
    assert_generates_as_trained(str(tiny_model_dir), ref.model_path, ref.adapter_path)
    manifest = ctx.artifacts.open(ref.artifact_id).manifest
    assert manifest["inputs"]["coldstart"] == demo_data_ref.coldstart.fingerprint
    assert len(TrainingLogs(ctx.warehouse).series(ref.run_key, "loss")) == 6


def test_the_generation_checks_fail_for_a_model_that_was_not_trained(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The check on a trained artifact rejects an untrained one: an adapter fresh from PEFT (its B matrices are
    zero) merged into the base generates as base + adapter, but fits the cold start no better than the base."""
    from peft import get_peft_model

    from knowrl.train.config import LoraSettings
    from knowrl.train.settings import lora_config

    untrained = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir), lora_config(LoraSettings(**LORA)))
    untrained.save_pretrained(tmp_path / "adapter")
    untrained.merge_and_unload().save_pretrained(tmp_path / "merged")
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(tmp_path / "merged")
    with pytest.raises(AssertionError, match="fits the cold start no better than the base model"):
        assert_generates_as_trained(str(tiny_model_dir), str(tmp_path / "merged"), str(tmp_path / "adapter"))


def test_sft_resumes_from_the_last_complete_checkpoint_after_a_crash(
    ctx, demo_data_ref, tiny_model_dir, monkeypatch
) -> None:
    cfg = sft_cfg(tiny_model_dir, max_steps=6, save_steps=2, sample_prompts=0)
    crash_once_at(monkeypatch, 5)
    with pytest.raises(RuntimeError, match="simulated crash at step 5"):
        run_sft_stage(cfg, {"data": demo_data_ref}, ctx, "test")
    run_dirs = list(ctx.paths.runs.iterdir())
    assert len(run_dirs) == 1
    assert last_complete_checkpoint(run_dirs[0]).name == "checkpoint-4"
    # A half-written checkpoint (no completion marker) is never picked.
    (run_dirs[0] / "checkpoint-5").mkdir()
    assert last_complete_checkpoint(run_dirs[0]).name == "checkpoint-4"
    ref = run_sft_stage(cfg, {"data": demo_data_ref}, ctx, "test")
    assert ref.metrics["resumed_from"] == "checkpoint-4" and ref.metrics["steps"] == 6
    steps = [s for s, _ in TrainingLogs(ctx.warehouse).series(ref.run_key, "loss")]
    assert steps == [1, 2, 3, 4, 5, 6]  # steps after the checkpoint were logged once, not twice
    assert not run_dirs[0].exists()  # checkpoints are dropped once the artifact is committed


def test_grpo_resumes_after_a_crash(ctx, demo_data_ref, demo_knowledge_ref, tiny_model_dir, monkeypatch) -> None:
    sft = run_sft_stage(sft_cfg(tiny_model_dir, max_steps=2, sample_prompts=0), {"data": demo_data_ref}, ctx, "test")
    refs = {"data": demo_data_ref, "knowledge": demo_knowledge_ref, "sft": sft}
    cfg = grpo_cfg(max_steps=4, save_steps=2)
    crash_once_at(monkeypatch, 3)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_grpo_stage(cfg, refs, ctx, "test")
    (run_dir,) = [d for d in ctx.paths.runs.iterdir() if d.name.startswith("grpo-")]
    assert last_complete_checkpoint(run_dir).name == "checkpoint-2"  # the crash at step 3 left step 2 marked
    assert (run_dir / "checkpoint-2" / COMPLETE_MARKER).read_text() == "2"
    ref = run_grpo_stage(cfg, refs, ctx, "test")
    assert ref.metrics["resumed_from"] == "checkpoint-2" and ref.metrics["steps"] == 4


def _plain_text_base(out: Path) -> Path:
    """The demo's tiny model pretrained (300 steps) on its plain-text rows only: none of the chat turns and drills
    that answer in the tags, so it has never seen the answer format."""
    from knowrl import resources
    from knowrl.models.loading import demo_model_texts
    from knowrl.models.tiny import build_tiny_model

    texts, pretrain = demo_model_texts(resources.demo_dir() / "data")
    plain = [text for text in pretrain if "<think>" not in text and "<answer>" not in text]
    return build_tiny_model(out, texts, plain, pretrain_steps=300)


def test_demo_sft_teaches_the_format_then_grpo_trains(
    ctx, demo_data_ref, demo_knowledge_ref, tiny_model_dir, tmp_path: Path
) -> None:
    """The demo's SFT config teaches the answer format to a base that never saw it (share of well-formed sampled
    completions 0.00 -> 0.31-0.56 over 3 base seeds) and keeps it on the demo's base, which pretraining on chat turns
    in the tags already taught (0.875 before); GRPO from there updates the weights, logs every reward part, and its
    artifacts load and generate."""
    demo = load_recipe(REPO_ROOT / "recipes" / "demo.yaml").sft
    plain = demo.model_copy(update={"base_model": str(_plain_text_base(tmp_path / "plain")), "save_steps": 1000})
    taught = run_sft_stage(plain, {"data": demo_data_ref}, ctx, "test").metrics
    assert taught["format_share_before"] <= 0.1 and taught["format_share_after"] >= 0.2, taught
    cfg = demo.model_copy(update={"base_model": str(tiny_model_dir), "save_steps": 1000})
    sft = run_sft_stage(cfg, {"data": demo_data_ref}, ctx, "test")
    assert sft.metrics["format_share_after"] >= 0.9, sft.metrics

    refs = {"data": demo_data_ref, "knowledge": demo_knowledge_ref, "sft": sft}
    ref = run_grpo_stage(
        grpo_cfg(max_steps=3, per_device_train_batch_size=8, num_generations=8, max_completion_length=48),
        refs,
        ctx,
        "test",
    )
    assert ref.metrics["steps"] == 3
    assert _weights_differ(sft.model_path, ref.model_path)
    logged = set(TrainingLogs(ctx.warehouse).metrics(ref.run_key))
    assert {
        "reward",
        "rewards/format/mean",
        "rewards/combined/mean",
        "kl",
        "completions/mean_length",
        "knowrl/refusal_rate",
        "knowrl/judge_failures",
        "knowrl/facts_mean",
        "knowrl/supported_share",
        "knowrl/format_rate",
        "knowrl/correct_rate",
    } <= logged
    assert Path(ref.curves_png).stat().st_size > 0
    assert _generates(ref.model_path).startswith("<think>")


def test_sft_on_a_template_that_drops_the_reasoning(ctx, demo_data_ref, tiny_r1_dir: Path) -> None:
    """DeepSeek-R1-Distill's template keeps only the text after </think> and has no generation markers: TRL's own
    assistant mask refuses it; the stage builds the mask itself, and says which template it used."""
    cfg = sft_cfg(tiny_r1_dir, max_steps=2, sample_prompts=2, sample_max_new_tokens=4, system_prompt="none")
    ref = run_sft_stage(cfg, {"data": demo_data_ref}, ctx, "test")
    used = ref.metrics["chat_template"]
    assert used["chat_template"] == "model" and not used["template_keeps_reasoning"]
    assert used["opened_by_generation_prompt"] == "<think>\n" and used["turn_end"] == "<｜end▁of▁sentence｜>"
    assert ref.metrics["steps"] == 2 and ref.metrics["tokens_seen"] > 0
    chatml = run_sft_stage(cfg.model_copy(update={"chat_template": "chatml"}), {"data": demo_data_ref}, ctx, "test")
    assert chatml.metrics["chat_template"]["turn_end"] == "<|im_end|>\n"
