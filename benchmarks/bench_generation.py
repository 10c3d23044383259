"""Batched generation (left padding) vs one prompt at a time, on the demo's tiny model, greedy, same prompts.

The last line printed is one JSON object: batched_s, sequential_s, speedup (target >= 5x on CPU).

    python benchmarks/bench_generation.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from knowrl.evaluate.generation import HFGenerator  # noqa: E402
from knowrl.models import resolve_model  # noqa: E402

QUESTIONS, MAX_NEW_TOKENS, BATCH = 64, 64, 32


def main() -> None:
    questions = [json.loads(line)["question"] for line in (ROOT / "demo/data/rl.jsonl").read_text().splitlines()]
    questions = (questions * 2)[:QUESTIONS]
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = resolve_model("builtin:tiny-qwen2", Path(tmp))
        generator = HFGenerator(model_dir)
        generator.generate(questions[:2], 4, 2)  # warm-up: first-call costs are not what we compare
        started = time.perf_counter()
        batched = generator.generate(questions, MAX_NEW_TOKENS, BATCH)
        batched_s = time.perf_counter() - started
        started = time.perf_counter()
        sequential = generator.generate(questions, MAX_NEW_TOKENS, 1)
        sequential_s = time.perf_counter() - started
    same = sum(a == b for a, b in zip(batched, sequential, strict=True))
    print(
        f"{QUESTIONS} prompts, {MAX_NEW_TOKENS} new tokens, greedy: batched ({BATCH}) {batched_s:.2f}s, "
        f"one at a time {sequential_s:.2f}s; identical outputs: {same}/{QUESTIONS}"
    )
    print(
        json.dumps(
            {
                "batched_s": round(batched_s, 3),
                "sequential_s": round(sequential_s, 3),
                "speedup": round(sequential_s / batched_s, 2),
                "identical_outputs": same,
                "prompts": QUESTIONS,
            }
        )
    )


if __name__ == "__main__":
    main()
