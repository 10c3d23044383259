"""GPU smoke check: a few SFT and GRPO steps through our stages on a small real-architecture model, the NLI
verifier's per-pair check on the GPU, and evaluation generation.

The model is Qwen2.5-0.5B-shaped (24 layers, hidden 896) with random weights and the demo tokenizer, so no Hub
access is needed; the NLI model is the tests' tiny locally built classifier. Prints tokens/s and peak GPU memory
per stage; the last line is one JSON object.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from knowrl.data.stage import run_data_stage  # noqa: E402
from knowrl.knowledge.stage import run_knowledge_stage  # noqa: E402
from knowrl.models import resolve_model  # noqa: E402
from knowrl.pipeline.runtime import StageContext  # noqa: E402
from knowrl.registry import load_recipe  # noqa: E402
from knowrl.train.grpo import run_grpo_stage  # noqa: E402
from knowrl.train.sft import run_sft_stage  # noqa: E402
from storage.training_logs import TrainingLogs  # noqa: E402

SHAPE = {
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
}


def small_model(models: Path) -> Path:
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    tiny = resolve_model("builtin:tiny-qwen2", models)
    out = models / "qwen2-0.5b-shaped"
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        max_position_embeddings=4096,
        **SHAPE,
    )
    Qwen2ForCausalLM(config).to(torch.bfloat16).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def main() -> None:
    assert torch.cuda.is_available(), "gpu_smoke needs a CUDA GPU"
    with tempfile.TemporaryDirectory(prefix="gpu-smoke-") as tmp:
        os.environ["KNOWRL_HOME"] = str(Path(tmp) / "home")
        ctx = StageContext.from_env()
        recipe = load_recipe(
            ROOT / "recipes/demo.yaml",
            [
                "sft.max_steps=10",
                "sft.bf16=true",
                "sft.per_device_train_batch_size=8",
                "sft.sample_prompts=8",
                "grpo.max_steps=5",
                "grpo.bf16=true",
                "grpo.per_device_train_batch_size=16",
                "grpo.num_generations=8",
                "grpo.max_completion_length=128",
                "grpo.gradient_checkpointing=true",
            ],
        )
        data = run_data_stage(recipe.data, {}, ctx)
        knowledge = run_knowledge_stage(recipe.knowledge, {"data": data}, ctx)
        base = small_model(ctx.paths.models)
        figures: dict = {"gpu": torch.cuda.get_device_name(0)}
        torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        sft = run_sft_stage(recipe.sft.model_copy(update={"base_model": str(base)}), data, ctx, "smoke")
        sft_s = time.perf_counter() - started
        figures.update(
            sft_s=round(sft_s, 2),
            sft_tokens_per_s=round(sft.metrics["tokens_seen"] / sft_s, 1),
            sft_peak_gib=round(torch.cuda.max_memory_allocated() / 1024**3, 2),
        )
        torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        grpo = run_grpo_stage(recipe.grpo, {"data": data, "knowledge": knowledge, "sft": sft}, ctx, "smoke")
        grpo_s = time.perf_counter() - started
        tokens = sum(v for _, v in TrainingLogs(ctx.warehouse).series(grpo.run_key, "num_tokens")[-1:])
        figures.update(
            grpo_s=round(grpo_s, 2),
            grpo_tokens_per_s=round(tokens / grpo_s, 1),
            grpo_peak_gib=round(torch.cuda.max_memory_allocated() / 1024**3, 2),
            grpo_steps=grpo.metrics["steps"],
            grpo_reward_last=grpo.metrics["reward_last"],
        )
        figures.update(nli_check(Path(tmp)))
        figures.update(generation_check(Path(grpo.model_path), recipe))
    print(json.dumps(figures))


def nli_check(tmp: Path) -> dict:
    """Per-pair NLI on the GPU: 2,000 facts x 5 passages in batched waves (no fact reaches the threshold here)."""
    from knowrl.config.backends import VerifierConfig
    from knowrl.judges.nli import NLIVerifier
    from tests.support.tiny_nli import build_tiny_nli

    model = build_tiny_nli(tmp / "nli", entailment_bias=-2.0, hidden=256, layers=4)
    verifier = NLIVerifier(VerifierConfig(backend="nli", batch_size=256), None, model_path=model)
    assert verifier.model.device.type == "cuda"
    pairs = [(f"fact {i} about penicillin", [f"passage {j} about fleming" for j in range(5)]) for i in range(2000)]
    started = time.perf_counter()
    values = verifier.entailment_many(pairs)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    assert len(values) == 2000 and all(v is not None for v in values)
    return {"nli_pairs_per_s": round(10_000 / seconds, 1), "nli_forwards": verifier.stats.calls}


def generation_check(model_path: Path, recipe) -> dict:
    """Greedy evaluation generation of the GRPO model on the demo's held-out questions."""
    from knowrl.evaluate.benchmarks import load_benchmark
    from knowrl.evaluate.config import BenchmarkSpec
    from knowrl.evaluate.generation import Generator
    from knowrl.method.prompts import chat_messages

    bench = load_benchmark(BenchmarkSpec(name="simpleqa", source=str(ROOT / "demo/eval/heldout.csv")), model_path)
    started = time.perf_counter()
    texts = Generator(model_path, use_vllm=False).generate(
        [chat_messages(i.prompt) for i in bench.items], max_new_tokens=128, batch_size=32
    )
    return {"eval_generations": len(texts), "eval_generation_s": round(time.perf_counter() - started, 2)}


if __name__ == "__main__":
    main()
