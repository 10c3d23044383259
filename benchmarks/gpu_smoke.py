"""GPU smoke check: the paper recipe's own settings (`recipes/knowrl-7b.yaml`, the June 2025 version: ChatML cold
start with the loss on the whole reasoning, GRPO with the authors' prefilled prompts, June 2025 rewards, loss grpo,
temperature 0.9, bf16, gradient checkpointing, the 8-bit optimizer where bitsandbytes is installed) through our stages
on a Qwen2.5-0.5B-shaped model with the DeepSeek-R1-Distill tokenizer properties and chat template (a template that
drops the reasoning and opens `<think>`), overriding only sizes, the model, the data and the judges:

- data and knowledge: the demo's files (no Hub on a GPU worker without network); BM25 retrieval;
- judge and extractor: the tests' scripted OpenAI-compatible server in this process (its request quota respected);
- verifier: the tests' tiny DeBERTa-v2 NLI (same architecture as the paper's), on the GPU.

Prints, per stage, seconds, tokens/s and peak GPU memory; then the NLI verifier's pairs/s and evaluation generation
(with truncations counted). The last line is one JSON object. `--smoke` runs the same path on CPU with a tiny shape
(what CI runs: it checks the script, not the GPU).

    python benchmarks/gpu_smoke.py            # on a GPU worker (benchmarks/gpu_smoke.sh installs what it needs)
    python benchmarks/gpu_smoke.py --smoke    # CPU, tiny, seconds
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from knowrl.pipeline.runtime import StageContext  # noqa: E402
from knowrl.registry import REGISTRY, load_recipe  # noqa: E402
from storage.training_logs import TrainingLogs  # noqa: E402
from tests.support.openai_server import Script, ScriptedOpenAIServer, knowrl_responder  # noqa: E402
from tests.support.tiny_deberta_nli import build_tiny_deberta_nli  # noqa: E402
from tests.support.tiny_r1 import TINY_SHAPE, build_tiny_r1  # noqa: E402

QWEN_0_5B = {
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
}
DEMO = ROOT / "knowrl" / "resources" / "demo"


def sizes(smoke: bool) -> list[str]:
    """The rehearsal's overrides: sizes, the model, the data, the judges. Nothing of the method."""
    steps, batch, generations, length = (2, 4, 2, 16) if smoke else (10, 8, 8, 256)
    return [
        "sft.max_steps=" + str(steps),
        f"sft.per_device_train_batch_size={batch}",
        "sft.gradient_accumulation_steps=1",
        "sft.max_length=1024",
        "sft.sample_prompts=4",
        "sft.sample_max_new_tokens=32",
        "grpo.max_steps=" + str(steps // 2),
        f"grpo.per_device_train_batch_size={batch * 2}",
        "grpo.gradient_accumulation_steps=1",
        f"grpo.num_generations={generations}",
        f"grpo.max_completion_length={length}",
        "grpo.max_prompt_tokens=1024",
        f"data.rl_source={DEMO / 'data' / 'rl.jsonl'}",
        "data.rl_file=null",
        f"data.coldstart_source={DEMO / 'data' / 'coldstart.json'}",
        "data.coldstart_file=null",
        "data.revision=null",
        f"knowledge.source={DEMO / 'data' / 'corpus.jsonl'}",
        "knowledge.backend=bm25",
        "knowledge.passage_max_tokens=64",
    ]


def endpoints(base_url: str, nli: Path) -> list[str]:
    sets = [f"grpo.verifier.nli_model={nli}", "grpo.verifier.batch_size=256"]
    for role in ("judge", "extractor"):
        sets += [f"grpo.{role}.endpoint.base_url={base_url}", f"grpo.{role}.endpoint.requests_per_minute=6000"]
    return sets


def run(spec_name: str, recipe, refs: dict, ctx: StageContext):
    """One stage as the flow runs it: a stage the recipe turns off (curate in the paper recipes) gives its off
    result without running."""
    spec = REGISTRY[spec_name]
    config = recipe.stage_config(spec_name)
    off = spec.call("off", config) if spec.off else None
    if off is not None:
        return off
    upstream = {name: refs[name] for name in spec.upstream_stages}
    return spec.call("run", config, upstream, ctx)


def timed_training(stage: str, recipe, refs: dict, ctx: StageContext, gpu: bool) -> tuple[object, dict]:
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    ref = run(stage, recipe, refs, ctx)
    seconds = time.perf_counter() - started
    logged = TrainingLogs(ctx.warehouse).series(ref.run_key, "num_tokens")
    tokens = ref.metrics.get("tokens_seen") or (logged[-1][1] if logged else 0)
    figures = {f"{stage}_s": round(seconds, 2), f"{stage}_tokens_per_s": round(tokens / seconds, 1)}
    if gpu:
        figures[f"{stage}_peak_gib"] = round(torch.cuda.max_memory_allocated() / 1024**3, 2)
    figures[f"{stage}_steps"] = ref.metrics["steps"]
    figures[f"{stage}_hardware_adjustments"] = ref.metrics.get("hardware_adjustments")
    return ref, figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny shape: check the script's path in seconds")
    args = parser.parse_args()
    gpu = torch.cuda.is_available()
    if not gpu and not args.smoke:
        sys.exit("gpu_smoke needs a CUDA GPU (or --smoke for the CPU check of the script)")
    with tempfile.TemporaryDirectory(prefix="gpu-smoke-") as tmp_dir:
        tmp = Path(tmp_dir)
        os.environ["KNOWRL_HOME"] = str(tmp / "home")
        os.environ.setdefault("OPENAI_API_KEY", "sk-smoke")
        ctx = StageContext.from_env()
        texts = [
            t["value"] for r in json.loads((DEMO / "data" / "coldstart.json").read_text()) for t in r["conversations"]
        ]
        base = build_tiny_r1(tmp / "r1-0.5b", texts, shape=TINY_SHAPE if args.smoke else QWEN_0_5B)
        nli = build_tiny_deberta_nli(tmp / "nli", texts=texts)
        figures: dict = {"device": torch.cuda.get_device_name(0) if gpu else "cpu", "smoke": args.smoke}
        with ScriptedOpenAIServer(Script(knowrl_responder, reported_model="scripted-judge")) as judge:
            overrides = [*sizes(args.smoke), f"sft.base_model={base}", *endpoints(judge.base_url, nli)]
            if importlib.util.find_spec("bitsandbytes") is None:
                overrides.append("grpo.optim=adamw_torch")  # the recipe's 8-bit AdamW needs bitsandbytes
                figures["optim"] = "adamw_torch (bitsandbytes not installed)"
            recipe = load_recipe("knowrl-7b", overrides)
            refs: dict = {}
            refs["data"] = run("data", recipe, refs, ctx)
            refs["knowledge"] = run("knowledge", recipe, refs, ctx)
            refs["sft"], sft_figures = timed_training("sft", recipe, refs, ctx, gpu)
            refs["curate"] = run("curate", recipe, refs, ctx)
            figures["curate_enabled"] = refs["curate"].enabled
            refs["grpo"], grpo_figures = timed_training("grpo", recipe, refs, ctx, gpu)
            figures |= sft_figures | grpo_figures
            figures["sft_chat_template"] = refs["sft"].metrics["chat_template"]["chat_template"]
            figures["grpo_prompt_style"] = refs["grpo"].metrics["prompt_style"]
            figures["judge_requests"] = judge.stats.requests
        figures |= nli_check(nli, gpu)
        figures |= generation_check(Path(refs["grpo"].model_path), recipe, args.smoke)
    print(json.dumps(figures, default=str))


def nli_check(model: Path, gpu: bool) -> dict:
    """Per-pair NLI on the device: 2,000 facts x 5 passages in batched waves."""
    from knowrl.config.backends import VerifierConfig
    from knowrl.judges.nli import NLIVerifier

    verifier = NLIVerifier(VerifierConfig(backend="nli", batch_size=256), None, model_path=model)
    assert verifier.model.device.type == ("cuda" if gpu else "cpu")
    passages = [f"passage {j} about fleming" for j in range(5)]
    pairs = [(f"fleming discovered penicillin {i}", passages) for i in range(2000)]
    started = time.perf_counter()
    values = verifier.entailment_many(pairs)
    if gpu:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    assert len(values) == 2000 and all(v is not None for v in values)
    return {"nli_pairs_per_s": round(len(pairs) * len(passages) / seconds, 1), "nli_forwards": verifier.stats.calls}


def generation_check(model_path: Path, recipe, smoke: bool) -> dict:
    """Evaluation generation of the GRPO model as the recipe prompts it (the card's `user` style)."""
    from knowrl.evaluate.benchmarks import load_benchmark
    from knowrl.evaluate.config import BenchmarkSpec
    from knowrl.evaluate.generation import Generator

    spec = BenchmarkSpec(name="simpleqa", source=str(DEMO / "eval" / "unknown.csv"))
    bench = load_benchmark(spec, model_path)
    started = time.perf_counter()
    generations = Generator(model_path, use_vllm=False).generate(
        [i.prompt for i in bench.items], recipe.evaluate.prompt_style, 16 if smoke else 256, 32
    )
    return {
        "eval_generations": len(generations),
        "eval_generation_s": round(time.perf_counter() - started, 2),
        "eval_truncated": sum(g.truncated for g in generations),
    }


if __name__ == "__main__":
    main()
