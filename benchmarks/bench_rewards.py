"""One GRPO step of reward scoring: ours (batched, concurrent, cached) vs the reference way (calls one at a time).

Step: 20 prompts x 10 completions with three-paragraph reasoning; a local OpenAI-compatible endpoint with 50 ms
latency per call serves the judge and the fact extractor; a locally built NLI model verifies each fact against the
top-5 passages of the question's titles in the demo knowledge store. Reference: a judge call per completion, an
extraction call per reasoning paragraph, NLI one fact at a time, no cache. The last line printed is one JSON object.

    python benchmarks/bench_rewards.py
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from knowrl.config.backends import EndpointConfig, ExtractorConfig, JudgeConfig, VerifierConfig  # noqa: E402
from knowrl.config.stages import DataConfig, KnowledgeConfig  # noqa: E402
from knowrl.data.stage import run_data_stage  # noqa: E402
from knowrl.judges import build_extractor, build_judge  # noqa: E402
from knowrl.judges.base import JudgeItem  # noqa: E402
from knowrl.judges.hf_backends import NLIVerifier  # noqa: E402
from knowrl.judges.prompts import extract_messages, grader_messages, parse_facts, parse_grade  # noqa: E402
from knowrl.knowledge.stage import open_store, run_knowledge_stage  # noqa: E402
from knowrl.method.parsing import parse_completion  # noqa: E402
from knowrl.rewards import RewardScorer  # noqa: E402
from knowrl.rewards.arithmetic import correctness_score, factuality_score  # noqa: E402
from knowrl.runtime import StageContext  # noqa: E402
from storage.llm_cache import LLMCache  # noqa: E402
from tests.support.openai_server import Script, ScriptedOpenAIServer, knowrl_responder  # noqa: E402
from tests.support.tiny_nli import build_tiny_nli  # noqa: E402

PROMPTS, COMPLETIONS, LATENCY_S = 20, 10, 0.05


def make_step(rows: list[dict], corpus: dict[str, list[str]], seed: int = 0) -> list[dict]:
    """200 completions: three paragraphs of reasoning (~10 sentences) from the question's page, an answer."""
    rng = random.Random(seed)
    items = []
    for row in rng.sample(rows, PROMPTS):
        sentences = [s for t in row["titles"] for s in corpus.get(t, [])] or ["The topic is not covered."]
        for c in range(COMPLETIONS):
            picked = [rng.choice(sentences) for _ in range(10)]
            paragraphs = [" ".join(picked[0:3]), " ".join(picked[3:7]), " ".join(picked[7:10])]
            answer = row["answers"][0] if c % 3 else "I don't know."
            text = "<think>\n" + "\n\n".join(paragraphs) + f"\n</think>\n<answer>{answer} {c}</answer>"
            items.append({"text": text, **{k: row[k] for k in ("question", "answers", "titles")}})
    return items


def ours(items: list[dict], endpoint: EndpointConfig, nli: Path, store, cache: LLMCache) -> tuple[float, int]:
    scorer = RewardScorer(
        build_judge(JudgeConfig(backend="openai", endpoint=endpoint), cache),
        build_extractor(ExtractorConfig(backend="openai", endpoint=endpoint), cache),
        NLIVerifier(VerifierConfig(backend="nli", batch_size=64), cache, model_path=nli),
        store,
    )
    started = time.perf_counter()
    parts = scorer.parts(
        [i["text"] for i in items],
        [i["question"] for i in items],
        [i["answers"] for i in items],
        [i["titles"] for i in items],
        factuality_for="all",
    )
    seconds = time.perf_counter() - started
    assert all(p.factuality is not None for p in parts)
    stats = scorer.stats()
    return seconds, stats["judge"]["calls"] + stats["extractor"]["calls"]


def reference(items: list[dict], endpoint: EndpointConfig, nli: Path, store) -> tuple[float, int]:
    verifier = NLIVerifier(VerifierConfig(backend="nli", batch_size=1), None, model_path=nli)
    url = endpoint.base_url + "/chat/completions"
    calls = 0
    started = time.perf_counter()
    with httpx.Client(timeout=endpoint.timeout_s) as client:

        def call(messages: list[dict]) -> str:
            nonlocal calls
            calls += 1
            response = client.post(url, json={"model": endpoint.model, "messages": messages, "temperature": 0.0})
            return response.json()["choices"][0]["message"]["content"]

        for item in items:
            parsed = parse_completion(item["text"])
            judge_item = JudgeItem(item["question"], tuple(item["answers"]), parsed.answer)
            grade = parse_grade(call(grader_messages(judge_item)))
            correctness_score(parsed.answer, grade)
            facts = []
            for paragraph in (parsed.think or "").split("\n\n"):
                facts.extend(parse_facts(call(extract_messages(paragraph)), 32) or [])
            probs = []
            for fact in facts:
                passages = [p.text for p in store.search(fact, item["titles"], 5).passages]
                probs.append(verifier._forward([(" ".join(passages), fact)])[0])
            factuality_score(probs)
    return time.perf_counter() - started, calls


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-rewards-") as tmp:
        os.environ["KNOWRL_HOME"] = str(Path(tmp) / "home")
        ctx = StageContext.from_env()
        data = run_data_stage(DataConfig(rl_source=str(ROOT / "demo/data/rl.jsonl")), ctx)
        knowledge = run_knowledge_stage(
            KnowledgeConfig(source=str(ROOT / "demo/data/corpus.jsonl"), passage_max_tokens=64), data, ctx
        )
        store = open_store(knowledge, ctx)
        corpus = {}
        for line in (ROOT / "demo/data/corpus.jsonl").read_text().splitlines():
            page = json.loads(line)
            corpus[page["title"].replace("_", " ")] = page["text"].replace("\n\n", " ").split(". ")
        rows = [r for r in ctx_rows(ctx, data)]
        items = make_step(rows, corpus)
        nli = build_tiny_nli(Path(tmp) / "nli", hidden=64, layers=2)
        with ScriptedOpenAIServer(Script(knowrl_responder, latency_s=LATENCY_S)) as server:
            endpoint = EndpointConfig(base_url=server.base_url, model="judge", concurrency=32, backoff_s=0.05)
            cache = LLMCache(ctx.warehouse)
            ours_s, calls = ours(items, endpoint, nli, store, cache)
            print(f"ours: {ours_s:.2f}s for {len(items)} completions ({calls} endpoint calls)", flush=True)
            cached_s, cached_calls = ours(items, endpoint, nli, store, cache)
            print(f"ours, same batch again (cache hits): {cached_s:.3f}s ({cached_calls} endpoint calls)", flush=True)
            reference_s, reference_calls = reference(items, endpoint, nli, store)
            print(f"reference: {reference_s:.2f}s ({reference_calls} endpoint calls, NLI one fact at a time)")
    figures = {
        "ours_s": round(ours_s, 3),
        "reference_s": round(reference_s, 3),
        "cached_s": round(cached_s, 4),
        "speedup": round(reference_s / ours_s, 1),
        "cached_speedup": round(reference_s / cached_s, 1),
        "calls_made": calls,
        "cached_calls_made": cached_calls,
        "reference_calls": reference_calls,
        "completions": len(items),
        "latency_s": LATENCY_S,
    }
    print(f"speedup {figures['speedup']}x (target >= 20x), cached {figures['cached_speedup']}x (target >= 100x)")
    print(json.dumps(figures))


def ctx_rows(ctx: StageContext, data: dict) -> list[dict]:
    from storage.datasets import DatasetTables

    return [
        r
        for r in DatasetTables(ctx.warehouse).rl_rows(data["rl"]["fingerprint"], split=None)
        if r["answers"][0] != "unknown"
    ]


if __name__ == "__main__":
    main()
