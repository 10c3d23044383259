"""Batched generation (left padding) vs one prompt at a time, on the demo's tiny model, greedy, same prompts.

Both sides go through knowrl/models/generation.py `generate_batched` (the one place evaluation, the SFT format probe
and the Hugging Face judge backends generate), on the same model and prompts (the demo's RL questions in the
`system` prompt style, as evaluation renders them); only the batch size differs. Greedy decoding must give the same
text for every prompt whatever the batch (left padding is masked): the script compares the outputs and exits with
status 1 on any difference. The warm-up (first forward, allocations) is outside both timings.

The model: the demo's builtin tiny Qwen2 (4 layers, hidden 128, pretrained on the demo text), built once into
`$KNOWRL_HOME/models` (a fresh build takes about a minute on CPU). `--smoke`: 8 prompts, 16 new tokens, on an
untrained tiny model of the same shape built in a temporary folder (seconds; for CI: it checks the outputs agree,
its timings mean nothing).

    python benchmarks/bench_generation.py
    python benchmarks/bench_generation.py --smoke
The last line printed is one JSON object: batched_s, sequential_s, speedup, identical_outputs, prompts, agree.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from knowrl import resources  # noqa: E402
from knowrl.method.prompts import render_prompt  # noqa: E402
from knowrl.models import resolve_model  # noqa: E402
from knowrl.models.generation import generate_batched, load_causal_lm  # noqa: E402
from knowrl.models.loading import BUILTIN_TINY  # noqa: E402
from knowrl.models.tiny import build_tiny_model  # noqa: E402
from knowrl.pipeline.runtime import StageContext  # noqa: E402
from knowrl.threads import configure_threads  # noqa: E402

QUESTIONS, MAX_NEW_TOKENS, BATCH = 64, 64, 32
STYLE = "system"


def demo_questions() -> list[str]:
    rows = (resources.demo_dir() / "data" / "rl.jsonl").read_text().splitlines()
    return [json.loads(line)["question"] for line in rows if line.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=QUESTIONS)
    parser.add_argument("--max-new-tokens", type=int, default=MAX_NEW_TOKENS)
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--smoke", action="store_true", help="8 prompts, 16 tokens, an untrained tiny model (CI)")
    args = parser.parse_args()
    configure_threads()
    questions = demo_questions()
    with tempfile.TemporaryDirectory(prefix="bench-generation-") as tmp:
        if args.smoke:
            args.prompts, args.max_new_tokens, args.batch = 8, 16, 8
            model_dir = build_tiny_model(Path(tmp) / "tiny", questions)
            model_label = "untrained tiny Qwen2 (smoke)"
        else:
            model_dir = resolve_model(BUILTIN_TINY, StageContext.from_env().paths.models)
            model_label = f"{BUILTIN_TINY} ({model_dir.name})"
        questions = (questions * (args.prompts // len(questions) + 1))[: args.prompts]
        model, tokenizer = load_causal_lm(model_dir)
        prompts = [render_prompt(tokenizer, q, STYLE) for q in questions]
        generate_batched(model, tokenizer, prompts[:2], 4, 2)  # warm-up: first-call costs are not what we compare
        started = time.perf_counter()
        batched = generate_batched(model, tokenizer, prompts, args.max_new_tokens, args.batch)
        batched_s = time.perf_counter() - started
        started = time.perf_counter()
        sequential = generate_batched(model, tokenizer, prompts, args.max_new_tokens, 1)
        sequential_s = time.perf_counter() - started
    differing = [i for i, (a, b) in enumerate(zip(batched, sequential, strict=True)) if a.text != b.text]
    for i in differing[:5]:
        print(f"DIFFERENCE prompt {i}: batched {batched[i].text!r} vs one at a time {sequential[i].text!r}")
    same = len(prompts) - len(differing)
    print(
        f"{model_label}: {len(prompts)} prompts, {args.max_new_tokens} new tokens, greedy: batched ({args.batch}) "
        f"{batched_s:.2f}s, one at a time {sequential_s:.2f}s -> {sequential_s / batched_s:.1f}x; "
        f"identical outputs: {same}/{len(prompts)}"
    )
    print(
        json.dumps(
            {
                "batched_s": round(batched_s, 3),
                "sequential_s": round(sequential_s, 3),
                "speedup": round(sequential_s / batched_s, 2),
                "identical_outputs": same,
                "prompts": len(prompts),
                "max_new_tokens": args.max_new_tokens,
                "batch": args.batch,
                "tokens_generated": sum(g.n_tokens for g in batched),
                "agree": not differing,
                "smoke": args.smoke,
            }
        )
    )
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
