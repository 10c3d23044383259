"""Our GRPO stage vs the same tiny GRPO config as a plain TRL script (same model, data, rewards, steps).

Both are timed end to end (load, train, save); the stage adds reading rows from the warehouse, per-step logs
into DuckDB, the knowledge store, artifacts (adapter + merged, hashed) and the curves. The last line printed is
one JSON object: plain_s, stage_s, overhead_ratio (target <= 1.10).

    python benchmarks/bench_training_overhead.py
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

from knowrl.data.stage import run_data_stage  # noqa: E402
from knowrl.knowledge.stage import run_knowledge_stage  # noqa: E402
from knowrl.models import resolve_model  # noqa: E402
from knowrl.pipeline.runtime import StageContext  # noqa: E402
from knowrl.registry import load_recipe  # noqa: E402
from knowrl.rewards import build_reward_functions  # noqa: E402
from knowrl.train.grpo import build_scorer, grpo_args, grpo_rows, run_grpo_stage  # noqa: E402

STEPS = 20


def plain_trl(cfg, refs, ctx, model_dir: Path, out: Path) -> float:
    """What a user would write by hand with TRL: the same arguments, rewards and data, no pipeline."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from knowrl.train.settings import lora_config

    rows = grpo_rows(ctx, refs["data"].rl.fingerprint, None)
    started = time.perf_counter()
    rewards, _ = build_reward_functions(cfg.rewards, build_scorer(cfg, refs["knowledge"], ctx))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    trainer = GRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(model_dir),
        reward_funcs=rewards,
        args=GRPOConfig(**grpo_args(cfg, out)),  # the same config: the same checkpoints every save_steps
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=lora_config(cfg.lora),
    )
    trainer.train()
    trainer.model.save_pretrained(out / "adapter")
    trainer.model.merge_and_unload().save_pretrained(out / "merged")
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        os.environ["KNOWRL_HOME"] = str(Path(tmp) / "home")
        ctx = StageContext.from_env()
        recipe = load_recipe(ROOT / "recipes/demo.yaml", [f"grpo.max_steps={STEPS}"])
        data = run_data_stage(recipe.data, {}, ctx)
        knowledge = run_knowledge_stage(recipe.knowledge, {"data": data}, ctx)
        model_dir = resolve_model("builtin:tiny-qwen2", ctx.paths.models)
        refs = {"data": data, "knowledge": knowledge, "sft": {"model_path": str(model_dir), "fingerprint": "base"}}
        cfg = recipe.grpo.model_copy(update={"save_steps": 10})
        plain_s = plain_trl(cfg, refs, ctx, model_dir, Path(tmp) / "plain")
        started = time.perf_counter()
        run_grpo_stage(cfg, refs, ctx, "bench")
        stage_s = time.perf_counter() - started
    ratio = stage_s / plain_s
    print(
        f"GRPO {STEPS} steps on the tiny model: plain TRL {plain_s:.1f}s, our stage {stage_s:.1f}s "
        f"(checkpoints every 10 steps, warehouse logs, artifacts) -> overhead {ratio:.3f} (target <= 1.10)"
    )
    print(
        json.dumps(
            {
                "plain_s": round(plain_s, 2),
                "stage_s": round(stage_s, 2),
                "overhead_ratio": round(ratio, 3),
                "steps": STEPS,
            }
        )
    )


if __name__ == "__main__":
    main()
