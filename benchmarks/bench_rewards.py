"""One GRPO step of reward scoring: ours (batched, concurrent, cached) vs the KnowRL authors' reward code.

Step: 20 prompts x 10 completions with three-paragraph reasoning; a local OpenAI-compatible endpoint with 50 ms
latency per call (tests/support/openai_server.py, in a process of its own as a vLLM server or a hosted API is,
keeping connections alive as they do) serves the judge and the fact extractor; a locally built NLI model
(tests/support/tiny_nli.py) verifies each fact against the top-5 passages of the question's titles.

Ours: knowrl.rewards.RewardScorer with our OpenAI judge and extractor backends and NLIVerifier, on the knowledge
store of the demo data; measured on the first scoring (cold cache) and on a re-score of the same batch by a new
scorer on the same warehouse cache (no calls).

Reference: the authors' reward code as it is in github.com/zjunlp/KnowRL, train/reward_function/ (modelled in
benchmarks/authors_reference.py, which names the files): correct_reward.py (one judge call per completion with an
answer, sync `openai.OpenAI` client, one call after another, temperature 0, max_tokens 4096), fact_reward.py and
FActScore/factscore/factscorer.py `FactScorer.get_score` (per completion ONE extraction call over the whole
reasoning, atomic_fact_generator.py `_process_texts_sync` -> lm.py `generate_batch`, one prompt after another; then
per fact retrieval.py `Retrieval.get_passages(topic, fact, k=5)`, results cached by topic + query, the topic's
passages read as one title from a KnowRL-format SQLite KB, one BM25Okapi per topic (or, with --retrieval dense,
per-topic passage embeddings and a query encoding per call); then NLI one (passage, fact) pair per forward in
retrieval order, stopping at the first P(entailment) >= 0.3, pair results cached). The judge pass runs first, then
the extraction pass, then retrieval and NLI per completion, as their combined reward calls them. The reference KB
holds, under each question's topic string, exactly the passages our store has for its titles, so both sides read
the same evidence and the extractor sees the same text (same facts).

Also measured in the same run, for comparison with earlier notes: the OLD reference of this benchmark (an
extraction call per reasoning paragraph, NLI on the joined top-5 passages one fact at a time, no caches).

On a machine shared with other work, run with OMP_NUM_THREADS=1: torch's threads then contend with it, and the
reference's one-at-a-time forwards suffer far more from that than batched ones (it would flatter our ratio).

    python benchmarks/bench_rewards.py                 # the full step (20 prompts)
    python benchmarks/bench_rewards.py --prompts 3     # a small check
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from knowrl.config.stages import KnowledgeConfig  # noqa: E402

from benchmarks.authors_reference import DocDB, PairNLI, Retrieval, SyncChat, write_topic_kb  # noqa: E402
from knowrl.config.backends import EndpointConfig, ExtractorConfig, JudgeConfig, VerifierConfig  # noqa: E402
from knowrl.data.config import DataConfig  # noqa: E402
from knowrl.data.normalize import title_key  # noqa: E402
from knowrl.data.result import DataRef  # noqa: E402
from knowrl.data.stage import run_data_stage  # noqa: E402
from knowrl.judges import build_extractor, build_judge  # noqa: E402
from knowrl.judges.base import JudgeItem  # noqa: E402
from knowrl.judges.nli import NLIVerifier  # noqa: E402
from knowrl.judges.prompts import (  # noqa: E402
    extract_messages,
    extraction_template,
    grader_messages,
    grader_template,
    parse_facts,
    parse_grade,
)
from knowrl.knowledge.stage import open_store, run_knowledge_stage  # noqa: E402
from knowrl.method.parsing import reasoning_text, reward_view  # noqa: E402
from knowrl.pipeline.runtime import StageContext  # noqa: E402
from knowrl.rewards import RewardScorer  # noqa: E402
from knowrl.rewards.arithmetic import correctness_score, factuality_score  # noqa: E402
from knowrl.rewards.scorer import Question  # noqa: E402
from storage.llm_cache import LLMCache  # noqa: E402
from tests.support.openai_server import SubprocessOpenAIServer  # noqa: E402
from tests.support.tiny_nli import build_tiny_nli  # noqa: E402
from tests.support.tiny_sentence_encoder import build_tiny_sentence_encoder  # noqa: E402

PROMPTS, COMPLETIONS, LATENCY_S = 20, 10, 0.05


def make_step(rows: list[dict], corpus: dict[str, list[str]], prompts: int, seed: int = 0) -> list[dict]:
    """prompts x 10 completions: three paragraphs of reasoning (~10 sentences) from the question's page, an answer."""
    rng = random.Random(seed)
    items = []
    for row in rng.sample(rows, prompts):
        sentences = [s for t in row["titles"] for s in corpus.get(t, [])] or ["The topic is not covered."]
        for c in range(COMPLETIONS):
            picked = [rng.choice(sentences) for _ in range(10)]
            paragraphs = [" ".join(picked[0:3]), " ".join(picked[3:7]), " ".join(picked[7:10])]
            answer = row["answers"][0] if c % 3 else "I don't know."
            text = "<think>\n" + "\n\n".join(paragraphs) + f"\n</think>\n<answer>{answer} {c}</answer>"
            items.append({"text": text, **{k: row[k] for k in ("question", "answers", "titles", "topic")}})
    return items


def question(item: dict) -> Question:
    return Question(item["question"], tuple(item["answers"]), tuple(item["titles"]), item["topic"])


def ours(items: list[dict], endpoint: EndpointConfig, nli: Path, store: Any, cache: LLMCache) -> dict:
    scorer = RewardScorer(
        build_judge(JudgeConfig(backend="openai", endpoint=endpoint), cache),
        build_extractor(ExtractorConfig(backend="openai", endpoint=endpoint), cache),
        NLIVerifier(VerifierConfig(backend="nli", batch_size=64), cache, model_path=nli),
        store,
    )
    started = time.perf_counter()
    parts = scorer.parts([i["text"] for i in items], [question(i) for i in items], factuality_for="all")
    seconds = time.perf_counter() - started
    assert all(p.factuality is not None for p in parts)
    stats = scorer.stats()
    return {
        "s": seconds,
        "calls": stats["judge"]["calls"] + stats["extractor"]["calls"],
        "nli_forwards": stats["verifier"]["calls"],
        "facts": sum(p.n_facts for p in parts),
        "factuality": [p.factuality for p in parts],
    }


def reference(items: list[dict], base_url: str, retrieval: Retrieval, extractor: SyncChat, nli: PairNLI) -> dict:
    """The authors' combined reward on one step (see the module docstring); `retrieval`, `extractor` and `nli` live
    as long as their FactScorer (built once at start-up, as in their train/main.py), the judge client per call."""
    grading, extracting = grader_template(None), extraction_template(None)
    started = time.perf_counter()
    # correct_reward.llm_eval_reward_func: a RewardEvaluator (a new client) per call, one judge call per completion.
    judge = SyncChat(base_url, "judge")
    correctness = []
    for item in items:
        answer = reward_view(item["text"]).answer
        grade = None
        if answer is not None:
            judge_item = JudgeItem(item["question"], tuple(item["answers"]), answer)
            grade = parse_grade(judge.complete(grader_messages(judge_item, grading)))
        correctness.append(correctness_score(answer, grade))
    judge.close()
    # FactScorer.get_score: the extraction pass (one prompt per completion, one call after another) ...
    facts_per_item = []
    for item in items:
        paragraphs = [p.strip() for p in reasoning_text(item["text"]).split("\n") if p.strip()]
        facts_per_item.append(parse_facts(extractor.complete(extract_messages("\n\n".join(paragraphs), extracting))))
    # ... then per completion: retrieval of every fact, then NLI per fact with early exit.
    factuality = []
    for item, facts in zip(items, facts_per_item, strict=True):
        if not facts:
            factuality.append(0.0)
            continue
        passages = [retrieval.get_passages(item["topic"], fact, k=5) for fact in facts]
        factuality.append(factuality_score([nli.fact_supported(f, p) for f, p in zip(facts, passages, strict=True)]))
    seconds = time.perf_counter() - started
    assert len(correctness) == len(factuality) == len(items)
    return {
        "s": seconds,
        "calls": judge.calls + extractor.calls,
        "nli_forwards": nli.forwards,
        "nli_cache_hits": nli.cache_hits,
        "retrievals": retrieval.misses,
        "retrieval_cache_hits": retrieval.hits,
        "facts": sum(len(f or []) for f in facts_per_item),
        "factuality": factuality,
    }


def old_reference(items: list[dict], endpoint: EndpointConfig, nli: Path, store: Any) -> dict:
    """This benchmark's earlier reference, unchanged but for our current API: an extraction call per paragraph,
    NLI on the joined top-5 passages, one fact at a time, no cache."""
    verifier = NLIVerifier(VerifierConfig(backend="nli", batch_size=1), None, model_path=nli)
    grading, extracting = grader_template(None), extraction_template(None)
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
            view = reward_view(item["text"])
            judge_item = JudgeItem(item["question"], tuple(item["answers"]), view.answer or "")
            grade = parse_grade(call(grader_messages(judge_item, grading)))
            correctness_score(view.answer, grade)
            facts = []
            for paragraph in view.fact_text.split("\n\n"):
                facts.extend(parse_facts(call(extract_messages(paragraph, extracting)), 32) or [])
            probs = []
            for fact in facts:
                passages = [p.text for p in store.search(fact, item["titles"], 5).passages]
                probs.append(float(verifier._forward([[" ".join(passages), fact]])[0]))
            factuality_score([p >= 0.3 for p in probs])
    return {"s": time.perf_counter() - started, "calls": calls, "nli_forwards": verifier.stats.calls}


def warm_up(nli: Path) -> None:
    """What a training process pays once, before its first step, outside both measurements: importing the
    OpenAI client and torch's first forward pass."""
    import openai  # noqa: F401

    NLIVerifier(VerifierConfig(backend="nli"), None, model_path=nli)._forward([["warm up", "warm up"]])


def topic_passages(store: Any, items: list[dict]) -> dict[str, list[str]]:
    """Per topic string: the passages our store holds for its titles, in page order (the reference KB's rows)."""
    rows: dict[str, list[str]] = {}
    for item in items:
        if item["topic"] in rows:
            continue
        passages: list[str] = []
        for key in dict.fromkeys(title_key(t) for t in item["titles"]):
            for segment in store.segments:
                if key in segment.title_index:
                    passages.extend(text for _, _, text in segment.passages(segment.candidate_rows([key])))
                    break
        if passages:
            rows[item["topic"]] = passages
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=PROMPTS, help="prompts in the step (x 10 completions)")
    parser.add_argument("--retrieval", choices=["bm25", "dense"], default="bm25", help="both sides' retriever")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-rewards-") as tmp:
        os.environ["KNOWRL_HOME"] = str(Path(tmp) / "home")
        ctx = StageContext.from_env()
        data = run_data_stage(DataConfig(rl_source=str(ROOT / "demo/data/rl.jsonl")), {}, ctx)
        encoder = build_tiny_sentence_encoder(Path(tmp) / "encoder") if args.retrieval == "dense" else None
        knowledge = run_knowledge_stage(
            KnowledgeConfig(
                source=str(ROOT / "demo/data/corpus.jsonl"),
                passage_max_tokens=64,
                backend=args.retrieval,
                dense_model=str(encoder) if encoder else None,
            ),
            data,
            ctx,
        )
        store = open_store(knowledge, ctx)
        corpus = {}
        for line in (ROOT / "demo/data/corpus.jsonl").read_text().splitlines():
            page = json.loads(line)
            # Whole sentences, each ending with its full stop: the extractor makes one fact of each.
            sentences = page["text"].replace("\n\n", " ").split(". ")
            corpus[page["title"].replace("_", " ")] = [t if t.endswith(".") else t + "." for t in sentences]
        # Questions with evidence in the demo corpus (the demo also has questions about made-up topics).
        rows = [r for r in ctx_rows(ctx, data) if any(t in corpus for t in r["titles"])]
        items = make_step(rows, corpus, args.prompts)
        kb_rows = topic_passages(store, items)
        write_topic_kb(Path(tmp) / "kb.db", kb_rows)
        nli = build_tiny_nli(Path(tmp) / "nli", hidden=64, layers=2)
        with SubprocessOpenAIServer(latency_s=LATENCY_S) as server:
            endpoint = EndpointConfig(base_url=server.base_url, model="judge", concurrency=32)
            cache = LLMCache(ctx.warehouse)
            warm_up(nli)
            first = ours(items, endpoint, nli, store, cache)
            print(
                f"ours: {first['s']:.2f}s for {len(items)} completions ({first['calls']} endpoint calls, "
                f"{first['nli_forwards']} NLI forwards, {first['facts']} facts)",
                flush=True,
            )
            cached = ours(items, endpoint, nli, store, cache)
            print(f"ours, same batch again (cache hits): {cached['s']:.3f}s ({cached['calls']} endpoint calls)")
            # Built before the step, as their FactScorer is at start-up: KB, retriever, extractor client, NLI model.
            retrieval = Retrieval(DocDB(Path(tmp) / "kb.db"), args.retrieval, encoder)
            if encoder:
                retrieval.load_encoder()
            extractor = SyncChat(server.base_url, "judge")
            ref = reference(items, server.base_url, retrieval, extractor, PairNLI(nli))
            extractor.close()
            print(
                f"reference (authors' code): {ref['s']:.2f}s ({ref['calls']} endpoint calls one at a time, "
                f"{ref['nli_forwards']} NLI forwards of one pair + {ref['nli_cache_hits']} NLI cache hits, "
                f"{ref['retrievals']} retrievals + {ref['retrieval_cache_hits']} retrieval cache hits, "
                f"{ref['facts']} facts)",
                flush=True,
            )
            old = old_reference(items, endpoint, nli, store)
            print(f"old reference (call per paragraph): {old['s']:.2f}s ({old['calls']} endpoint calls)")
    same = sum(abs(a - b) < 1e-9 for a, b in zip(first["factuality"], ref["factuality"], strict=True))
    figures = {
        "speedup": round(ref["s"] / first["s"], 1),
        "cached_speedup": round(ref["s"] / cached["s"], 1),
        "ours_s": round(first["s"], 3),
        "cached_s": round(cached["s"], 4),
        "reference_s": round(ref["s"], 3),
        "calls_made": first["calls"],
        "cached_calls_made": cached["calls"],
        "reference_calls": ref["calls"],
        "ours_nli_forwards": first["nli_forwards"],
        "reference_nli_forwards": ref["nli_forwards"],
        "reference_nli_cache_hits": ref["nli_cache_hits"],
        "reference_retrievals": ref["retrievals"],
        "reference_retrieval_cache_hits": ref["retrieval_cache_hits"],
        "ours_facts": first["facts"],
        "reference_facts": ref["facts"],
        "same_factuality": f"{same}/{len(items)}",
        "old_reference_s": round(old["s"], 3),
        "old_reference_calls": old["calls"],
        "old_speedup": round(old["s"] / first["s"], 1),
        "old_cached_speedup": round(old["s"] / cached["s"], 1),
        "completions": len(items),
        "prompts": args.prompts,
        "retrieval": args.retrieval,
        "latency_s": LATENCY_S,
    }
    print(
        f"speedup vs the authors' code {figures['speedup']}x (target >= 20x), cached {figures['cached_speedup']}x "
        f"(target >= 100x); vs the old reference {figures['old_speedup']}x, cached {figures['old_cached_speedup']}x"
    )
    print(json.dumps(figures))


def ctx_rows(ctx: StageContext, data: DataRef) -> list[dict]:
    from storage.datasets import DatasetTables

    rows = DatasetTables(ctx.warehouse).rl_rows(data.rl.fingerprint, split=None)
    return [r for r in rows if r["answers"][0] != "unknown"]


if __name__ == "__main__":
    main()
