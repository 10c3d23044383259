"""Orchestration overhead: our SFT and GRPO stages against plain TRL on the same model, data and settings.

Per stage, the same training twice on the demo recipe: once as a user would write it by hand with TRL (the trainer
built from the same TRL config, LoRA, rows and reward functions, `trainer.train()`, no callbacks of ours), once
through our stage (`run_sft_stage` / `run_grpo_stage`: per-step logs into the warehouse, progress, the run's
checkpoint bookkeeping). Compared is the time of `trainer.train()` on each side (the stage's `train_seconds`),
which is where steps run; loading, the SFT format probe and saving the artifact are outside it on both sides. The
ratio is stage / plain per step (target <= 1.03 on CPU). The plain side runs first; the GRPO stage starts from
our SFT stage's model, and so does the plain GRPO run, given the typed SFT result (`SFTRef`).

Timings on a shared CPU move by a few percent from run to run: `--repeats` runs each pair again and the JSON
keeps each stage's median ratio and every measurement.

    python benchmarks/bench_training_overhead.py                # SFT 30 steps, GRPO 8 steps, demo model
    python benchmarks/bench_training_overhead.py --smoke        # 3 SFT + 2 GRPO steps, small, untrained model (CI)
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from knowrl import resources  # noqa: E402
from knowrl.data.stage import run_data_stage  # noqa: E402
from knowrl.knowledge.stage import rows_to_drop, run_knowledge_stage  # noqa: E402
from knowrl.models import resolve_model  # noqa: E402
from knowrl.models.tiny import build_tiny_model  # noqa: E402
from knowrl.pipeline.runtime import StageContext  # noqa: E402
from knowrl.registry import load_recipe  # noqa: E402
from knowrl.rewards import build_reward_functions  # noqa: E402
from knowrl.stage_outputs import model_dir  # noqa: E402
from knowrl.threads import configure_threads  # noqa: E402
from knowrl.train.grpo import build_scorer, grpo_rows, grpo_stage_args, keep_prompts_that_fit, run_grpo_stage  # noqa: E402
from knowrl.train.result import SFTRef  # noqa: E402
from knowrl.train.runs import load_tokenizer  # noqa: E402
from knowrl.train.settings import build_trl_config, lora_config  # noqa: E402
from knowrl.train.sft import SFT_STAGE_ARGS, coldstart_rows, run_sft_stage, sft_examples  # noqa: E402

SFT_STEPS, GRPO_STEPS = 30, 8
# --smoke: small batches and completions, so that both sides' steps take well under a second each.
SMOKE_OVERRIDES = [
    "sft.per_device_train_batch_size=2",
    "sft.max_length=128",
    "sft.sample_prompts=2",
    "sft.sample_max_new_tokens=8",
    "grpo.per_device_train_batch_size=4",
    "grpo.num_generations=2",
    "grpo.max_completion_length=8",
]


def timed_train(trainer: Any) -> float:
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # the stage removes it too: printing is not what we compare
    started = time.perf_counter()
    trainer.train()
    return time.perf_counter() - started


def plain_sft(cfg: Any, data: Any, ctx: StageContext, out: Path) -> float:
    """TRL's SFTTrainer by hand: the stage's rows, tokenization and loss masks, config and LoRA."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    base = resolve_model(cfg.base_model, ctx.paths.models, cfg.revision)
    rows, _ = coldstart_rows(ctx, data.coldstart.fingerprint, cfg.limit_rows)
    tokenizer = load_tokenizer(base)
    examples, _ = sft_examples(tokenizer, rows, cfg)
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(base),
        args=build_trl_config(SFTConfig, cfg, out, SFT_STAGE_ARGS),
        train_dataset=Dataset.from_list(examples),
        processing_class=tokenizer,
        peft_config=lora_config(cfg.lora),
    )
    return timed_train(trainer)


def plain_grpo(cfg: Any, data: Any, knowledge: Any, sft: SFTRef, ctx: StageContext, out: Path) -> float:
    """TRL's GRPOTrainer by hand: the same rows (prompt style, length filter), rewards, config and LoRA."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    sft_path = model_dir(ctx, sft)
    tokenizer = load_tokenizer(sft_path)
    rows = grpo_rows(ctx, data.rl.fingerprint, tokenizer, cfg, rows_to_drop(knowledge, ctx))
    rows, _ = keep_prompts_that_fit(rows, tokenizer, cfg.max_prompt_tokens)
    rewards, _ = build_reward_functions(cfg.rewards, build_scorer(cfg, knowledge, ctx))
    trainer = GRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(sft_path),
        reward_funcs=rewards,
        args=build_trl_config(GRPOConfig, cfg, out, grpo_stage_args(cfg)),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=lora_config(cfg.lora),
    )
    return timed_train(trainer)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sft-steps", type=int, default=SFT_STEPS)
    parser.add_argument("--grpo-steps", type=int, default=GRPO_STEPS)
    parser.add_argument("--repeats", type=int, default=1, help="pairs of runs per stage (median ratio kept)")
    parser.add_argument("--smoke", action="store_true", help="3 steps each on an untrained tiny model (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.sft_steps, args.grpo_steps, args.repeats = 3, 2, 1
    configure_threads()
    measured: dict[str, list[tuple[float, float]]] = {"sft": [], "grpo": []}
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        os.environ["KNOWRL_HOME"] = str(Path(tmp) / "home")
        ctx = StageContext.from_env()
        overrides = [
            f"sft.max_steps={args.sft_steps}",
            f"sft.save_steps={args.sft_steps}",
            f"grpo.max_steps={args.grpo_steps}",
            f"grpo.save_steps={args.grpo_steps}",
        ]
        if args.smoke:
            rl = [json.loads(line)["question"] for line in (resources.demo_dir() / "data" / "rl.jsonl").open()]
            overrides += [
                f"sft.base_model={build_tiny_model(Path(tmp) / 'tiny', rl)}",
                *SMOKE_OVERRIDES,
            ]
        recipe = load_recipe(resources.root() / "recipes" / "demo.yaml", overrides)
        data = run_data_stage(recipe.data, {}, ctx)
        knowledge = run_knowledge_stage(recipe.knowledge, {"data": data}, ctx)
        sft: SFTRef | None = None
        for repeat in range(args.repeats):
            plain_s = plain_sft(recipe.sft, data, ctx, Path(tmp) / f"plain-sft-{repeat}")
            # A new run each repeat (a different code version): the stage trains again instead of reusing its run.
            ref = run_sft_stage(recipe.sft, {"data": data}, ctx, f"bench-{repeat}")
            assert ref is not None, "one process: rank 0 returns the SFT result"
            sft = sft or ref
            measured["sft"].append((plain_s, ref.metrics["train_seconds"]))
            print(f"SFT {args.sft_steps} steps: plain TRL {plain_s:.2f}s, our stage {ref.metrics['train_seconds']}s")
        assert sft is not None
        upstream = {"data": data, "knowledge": knowledge, "sft": sft}
        for repeat in range(args.repeats):
            plain_s = plain_grpo(recipe.grpo, data, knowledge, sft, ctx, Path(tmp) / f"plain-grpo-{repeat}")
            ref = run_grpo_stage(recipe.grpo, upstream, ctx, f"bench-{repeat}")
            assert ref is not None, "one process: rank 0 returns the GRPO result"
            measured["grpo"].append((plain_s, ref.metrics["train_seconds"]))
            print(f"GRPO {args.grpo_steps} steps: plain TRL {plain_s:.2f}s, our stage {ref.metrics['train_seconds']}s")
    figures: dict[str, Any] = {"smoke": args.smoke, "repeats": args.repeats}
    for stage, steps in (("sft", args.sft_steps), ("grpo", args.grpo_steps)):
        pairs = measured[stage]
        ratio = statistics.median(ours / plain for plain, ours in pairs)
        plain_step = statistics.median(plain / steps for plain, _ in pairs)
        ours_step = statistics.median(ours / steps for _, ours in pairs)
        figures[stage] = {
            "steps": steps,
            "plain_step_s": round(plain_step, 4),
            "stage_step_s": round(ours_step, 4),
            "overhead_ratio": round(ratio, 3),
            "runs": [{"plain_s": round(p, 2), "stage_s": round(o, 2)} for p, o in pairs],
        }
        print(
            f"{stage.upper()}: plain TRL {plain_step:.3f}s/step, our stage {ours_step:.3f}s/step -> "
            f"overhead {ratio:.3f} (target <= 1.03)"
        )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
