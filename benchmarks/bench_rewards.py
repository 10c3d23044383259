"""One GRPO step of reward scoring: ours (batched, concurrent, cached) vs the KnowRL authors' reward code.

The step: 20 prompts x 10 completions (200), each with a reasoning of a few sentences and an answer, ~940 facts.
A local OpenAI-compatible endpoint (tests/support/openai_server.py, in a process of its own as a vLLM server or a
hosted API is, keeping connections alive as they do) serves the judge and the fact extractor with a fixed latency
per call; the sweep runs it at 0, 10, 50 and 200 ms. Each fact is verified against the top 5 passages of its
question's titles by a verifier whose answer depends on the pair: by default the lexical verifier of our rules
backend with `lexical_min_overlap: 1.0` (supported when every content word of the fact is in the passage), on both
sides through the same function; `--verifier nli` uses the tests' tiny DeBERTa-v2 NLI (tests/support/
tiny_deberta_nli.py: P(entailment) high when every word of the fact is in the passage), which costs ~4 ms a pair
on one CPU thread batched and ~9 ms one pair per forward, too slow for the step's speed figures but a check that
both sides agree with an NLI model.

The data (benchmarks/reward_step_data.py) are synthetic and made so that retrieval and the early exit decide
results: pages of ~25 passages where some facts are supported by the passage BM25 ranks first, some only by the
2nd-5th (near-copies lacking one word of the fact rank above it), some by a passage ranked below the top 5
(unsupported: ranking decides), some by none (words of no passage), and some questions have no title in the
knowledge store (their facts have no evidence).
The script counts these cases on the reference side and fails when one is missing.

Ours: knowrl.rewards.RewardScorer with our OpenAI judge and extractor (concurrency `--concurrency` per client, the
two batches at the same time) and the verifier above, on a knowledge store built by our data and knowledge stages
from a KnowRL-format SQLite KB, ranking per topic as the authors' retriever does (`ranking="per_topic"`,
knowrl/knowledge/topic_bm25.py; the store's default ranking is compared in benchmarks/bench_retrieval.py).
Ours is the time `parts()` takes; the step's cache write, which a writer thread commits while training goes on
(knowrl/transport/cache.py), is waited for after it and reported apart as the time it went on after the step.
Measured on a fresh scorer and a fresh warehouse cache per latency (the process warmed: imports, the verifier's
first forward, the warehouse's schema), and as a "resume": a re-score of the identical batch by a new scorer on
the same warehouse cache, no calls (GRPO re-scores an identical batch only when it resumes a step).

Reference: the authors' reward code as it is in github.com/zjunlp/KnowRL, train/reward_function/ (modelled in
benchmarks/authors_reference.py, which names the files): correct_reward.py (a new sync `openai.OpenAI` client per
reward call, one judge call per completion with an answer, one after another, temperature 0, max_tokens 4096),
fact_reward.py and FActScore/factscore/factscorer.py `FactScorer.get_score` (per completion ONE extraction call over
the whole reasoning, one after another; then per completion: retrieval.py `Retrieval.get_passages(topic, fact,
k=5)` for every fact, results cached by topic + query, the topic's passages read as ONE title from a KnowRL-format
SQLite KB, one BM25Okapi per topic; then the NLI check one (passage, fact) pair per call in retrieval order,
stopping at the first support, pair results cached). The judge pass runs first, then the extraction pass, then
retrieval and verification, as their combined reward calls them. The reference KB holds, under each question's
topic string, exactly the passages our store has for its titles, in the same order; a topic without any page is
absent, and reads as no passages (theirs would raise and zero the whole batch's factuality: authors_reference.py).

Checked per completion, ours against the reference: the extracted facts, the judge's grade, the correctness
score, each fact's support, the factuality and the combined reward. Any difference is printed and the script
exits with status 1. The "ceiling" of a latency is the speed-up our concurrency allows at best: the reference's
time over our endpoint rounds (ceil(calls of the larger batch / concurrency) x latency).

On a machine shared with other work, run with OMP_NUM_THREADS=1: torch's threads then contend with it, and the
reference's one-at-a-time forwards suffer far more from that than batched ones (it would flatter our ratio).

    python benchmarks/bench_rewards.py                      # the full step, latencies 0, 10, 50, 200 ms
    python benchmarks/bench_rewards.py --smoke              # seconds: 6 prompts x 10, 0 and 10 ms (CI)
    python benchmarks/bench_rewards.py --verifier nli --latencies 10
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.authors_reference import (  # noqa: E402
    DocDB,
    PairNLI,
    PairScorer,
    Retrieval,
    SyncChat,
    write_topic_kb,
)
from benchmarks.reward_step_data import make_step, write_inputs  # noqa: E402
from knowrl.config.backends import EndpointConfig, ExtractorConfig, JudgeConfig, VerifierConfig  # noqa: E402
from knowrl.data.config import DataConfig  # noqa: E402
from knowrl.data.normalize import title_key  # noqa: E402
from knowrl.data.stage import run_data_stage  # noqa: E402
from knowrl.judges import build_extractor, build_judge  # noqa: E402
from knowrl.judges.base import Grade, JudgeItem  # noqa: E402
from knowrl.judges.prompts import (  # noqa: E402
    extract_messages,
    extraction_template,
    grader_messages,
    grader_template,
    parse_facts,
    parse_grade,
)
from knowrl.judges.rules import LexicalVerifier  # noqa: E402
from knowrl.knowledge.config import KnowledgeConfig  # noqa: E402
from knowrl.knowledge.stage import open_store, run_knowledge_stage  # noqa: E402
from knowrl.knowledge.store import KnowledgeStore  # noqa: E402
from knowrl.method.parsing import reasoning_text, reward_view  # noqa: E402
from knowrl.pipeline.runtime import StageContext  # noqa: E402
from knowrl.rewards import RewardScorer  # noqa: E402
from knowrl.rewards.arithmetic import combined_score, correctness_score, factuality_score  # noqa: E402
from knowrl.rewards.scorer import Question  # noqa: E402
from knowrl.transport.cache import flush_writes  # noqa: E402
from storage.llm_cache import LLMCache  # noqa: E402
from storage.warehouse import Warehouse  # noqa: E402
from tests.support.openai_server import SubprocessOpenAIServer  # noqa: E402

PROMPTS, COMPLETIONS, LATENCIES_MS, CONCURRENCY = 20, 10, (0, 10, 50, 200), 32
TOP_K, THRESHOLD = 5, 0.3
# -- the two sides -----------------------------------------------------------------------------------------------


@dataclass
class Result:
    """One completion's reward parts, as either side computed them."""

    facts: list[str]
    grade: Grade | None
    correctness: float
    supported: list[bool]
    factuality: float
    combined: float


@dataclass
class Item:
    text: str
    question: Question


def build_verifier(kind: str, cache: LLMCache | None, nli: Path | None) -> Any:
    if kind == "lexical":
        return LexicalVerifier(VerifierConfig(backend="lexical", lexical_min_overlap=1.0))
    from knowrl.judges.nli import NLIVerifier

    return NLIVerifier(VerifierConfig(backend="nli", batch_size=64), cache, model_path=nli)


def reference_verifier(kind: str, nli: Path | None) -> PairScorer:
    if kind == "lexical":
        return PairScorer(LexicalVerifier(VerifierConfig(backend="lexical", lexical_min_overlap=1.0)).support)
    return PairNLI(nli)  # type: ignore[arg-type]


def build_scorer(endpoint: EndpointConfig, store: KnowledgeStore, cache: LLMCache, verifier: Any) -> RewardScorer:
    """Our scorer as the GRPO stage builds it before training, its clients warmed by one call each (a training
    process's earlier steps keep them, and their connections, alive)."""
    scorer = RewardScorer(
        build_judge(JudgeConfig(backend="openai", endpoint=endpoint), cache),
        build_extractor(ExtractorConfig(backend="openai", endpoint=endpoint), cache),
        verifier,
        store,
        top_k=TOP_K,
        threshold=THRESHOLD,
    )
    scorer.judge.grade_many([JudgeItem("A warm-up question?", ("yes",), "yes")])
    scorer.extractor.extract_many(["The warm-up text states one warm-up fact."])
    return scorer


def ours(scorer: RewardScorer, items: list[Item]) -> tuple[float, list[Result], dict[str, Any]]:
    before = scorer.stats()
    started = time.perf_counter()
    parts = scorer.parts([i.text for i in items], [i.question for i in items], factuality_for="all")
    seconds = time.perf_counter() - started
    flush_writes()  # the step's cache write, which a writer thread commits while training goes on
    write_s = time.perf_counter() - started - seconds
    results = [
        Result(
            p.facts or [],
            p.grade,
            float(p.correctness if p.correctness is not None else math.nan),
            list(p.supported or []),
            float(p.factuality if p.factuality is not None else math.nan),
            float(p.combined if p.combined is not None else math.nan),
        )
        for p in parts
    ]
    after = scorer.stats()
    return (
        seconds,
        results,
        {
            "judge_calls": after["judge"]["calls"] - before["judge"]["calls"],
            "extraction_calls": after["extractor"]["calls"] - before["extractor"]["calls"],
            "no_evidence": sum(p.no_evidence for p in parts),
            "write_s": write_s,
        },
    )


def reference(
    items: list[Item], base_url: str, retrieval: Retrieval, extractor: SyncChat, verifier: PairScorer
) -> tuple[float, list[Result], dict[str, Any]]:
    """The authors' combined reward on one step (see the module docstring); `retrieval`, `extractor` and the
    verifier live as long as their FactScorer (built once at start-up, as in their train/main.py), the judge
    client per reward call."""
    grading, extracting = grader_template(None), extraction_template(None)
    started = time.perf_counter()
    # correct_reward.llm_eval_reward_func: a RewardEvaluator (a new client) per call, one judge call per completion.
    judge = SyncChat(base_url, "judge")
    grades, correctness = [], []
    for item in items:
        answer = reward_view(item.text).answer
        grade = None
        if answer is not None:
            judge_item = JudgeItem(item.question.text, item.question.answers, answer)
            grade = parse_grade(judge.complete(grader_messages(judge_item, grading)))
        grades.append(grade)
        correctness.append(correctness_score(answer, grade))
    judge.close()
    # FactScorer.get_score: the extraction pass (one prompt per completion, one call after another) ...
    facts_per_item = []
    for item in items:
        paragraphs = [p.strip() for p in reasoning_text(item.text).split("\n") if p.strip()]
        facts_per_item.append(parse_facts(extractor.complete(extract_messages("\n\n".join(paragraphs), extracting))))
    # ... then per completion: retrieval of every fact, then the check per fact with early exit.
    supported_per_item = []
    for item, facts in zip(items, facts_per_item, strict=True):
        passages = [retrieval.get_passages(item.question.topic, fact, k=TOP_K) for fact in facts or []]
        supported_per_item.append([verifier.fact_supported(f, p) for f, p in zip(facts or [], passages, strict=True)])
    seconds = time.perf_counter() - started
    results = []
    for grade, score, facts, supported in zip(grades, correctness, facts_per_item, supported_per_item, strict=True):
        factuality = factuality_score(supported) if facts else 0.0
        results.append(Result(facts or [], grade, score, supported, factuality, combined_score(score, factuality)))
    return (
        seconds,
        results,
        {
            "calls": judge.calls + extractor.calls,
            "checks": verifier.forwards,
            "check_cache_hits": verifier.cache_hits,
            "retrievals": retrieval.misses,
            "retrieval_cache_hits": retrieval.hits,
            "topics_without_pages": retrieval.db.missing,
            "ranks": list(verifier.ranks),
        },
    )


def differences(ours_results: list[Result], ref_results: list[Result], items: list[Item]) -> list[str]:
    """Every field of every completion on which the two sides differ, one line each."""
    out = []
    for n, (a, b, item) in enumerate(zip(ours_results, ref_results, items, strict=True)):
        where = f"completion {n} ({item.question.text!r})"
        for name in ("facts", "grade", "supported"):
            if getattr(a, name) != getattr(b, name):
                out.append(f"{where}: {name} ours {getattr(a, name)!r} vs reference {getattr(b, name)!r}")
        for name in ("correctness", "factuality", "combined"):
            x, y = getattr(a, name), getattr(b, name)
            if not (abs(x - y) <= 1e-9 or (math.isnan(x) and math.isnan(y))):
                out.append(f"{where}: {name} ours {x!r} vs reference {y!r}")
    return out


def support_cases(ref_results: list[Result], ranks: list[int | None], items: list[Item], store: Any) -> Counter:
    """What decided each fact on the reference side: supported at rank 1, at ranks 2-5, supported by a page
    passage ranked below the top 5, by no passage of its pages, or no evidence (no title in the store)."""
    cases: Counter[str] = Counter()
    position = 0
    for result, item in zip(ref_results, items, strict=True):
        if not store.covers(item.question.scope):
            cases["no evidence"] += len(result.facts)
            position += len(result.facts)
            continue
        for fact in result.facts:
            rank = ranks[position]
            position += 1
            if rank == 1:
                cases["rank 1"] += 1
            elif rank is not None:
                cases["ranks 2-5"] += 1
            elif any(_supports(fact, p.text) for p in store.search(fact, item.question.scope, k=10_000).passages):
                cases["below the top 5"] += 1
            else:
                cases["no passage"] += 1
    return cases


def _supports(fact: str, passage: str) -> bool:
    return LexicalVerifier(VerifierConfig(backend="lexical", lexical_min_overlap=1.0)).support(fact, passage) >= 0.3


def topic_passages(store: KnowledgeStore, items: list[Item]) -> dict[str, list[str]]:
    """Per topic string: the passages our store holds for the question's titles, in the store's order (the
    reference KB's rows). Topics none of whose titles is in the store get no row."""
    rows: dict[str, list[str]] = {}
    for item in items:
        topic = item.question.topic
        if topic in rows:
            continue
        passages: list[str] = []
        for key in dict.fromkeys(title_key(t) for t in item.question.scope):
            for segment in store.segments:
                if key in segment.title_index:
                    passages.extend(text for _, _, text in segment.passages(segment.candidate_rows([key])))
                    break
        if passages:
            rows[topic] = passages
    return rows


# -- the run -----------------------------------------------------------------------------------------------------


def warm_up(verifier: Any, cache: LLMCache) -> None:
    """What a training process pays once, before its first step, outside both measurements: the verifier's first
    forward, the cache warehouse's schema."""
    cache.get_many(["warm-up"])
    verifier.score_pairs([("warm up passage", "warm up fact")])


def ceiling(ref_s: float, calls: tuple[int, int], concurrency: int, latency_s: float) -> float | None:
    """The reference's time over our endpoint rounds: the best ratio our concurrency allows (None at 0 ms)."""
    rounds = math.ceil(max(calls) / concurrency)
    return ref_s / (rounds * latency_s) if latency_s > 0 and rounds else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=PROMPTS, help="prompts in the step")
    parser.add_argument("--completions", type=int, default=COMPLETIONS, help="completions per prompt")
    parser.add_argument("--latencies", default=",".join(map(str, LATENCIES_MS)), help="endpoint latencies, ms")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="our client's concurrency")
    parser.add_argument("--verifier", choices=["lexical", "nli"], default="lexical", help="both sides' verifier")
    parser.add_argument("--resume-at", type=int, default=None, help="latency (ms) of the resume figure")
    parser.add_argument("--smoke", action="store_true", help="6 prompts x 10 completions at 0 and 10 ms (CI)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.smoke:
        args.prompts, args.completions, args.latencies = 6, 10, "0,10"
    latencies = [int(x) for x in args.latencies.split(",")]
    resume_at = args.resume_at if args.resume_at is not None else (50 if 50 in latencies else latencies[-1])
    step = make_step(args.prompts, args.completions, args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-rewards-") as tmp:
        os.environ["KNOWRL_HOME"] = str(Path(tmp) / "home")
        ctx = StageContext.from_env()
        rl, kb = write_inputs(step, Path(tmp) / "inputs")
        data = run_data_stage(DataConfig(rl_source=str(rl), heldout_fraction=0.0), {}, ctx)
        knowledge = run_knowledge_stage(KnowledgeConfig(source=str(kb)), {"data": data}, ctx)
        segments = open_store(knowledge, ctx).segments
        rows = {r["question"]: r for r in ctx_rows(ctx, data.rl.fingerprint)}
        items = [
            Item(text, Question(q, tuple(rows[q]["answers"]), tuple(rows[q]["titles"]), rows[q]["topic"]))
            for q, texts in step.completions.items()
            for text in texts
        ]
        reference_kb = Path(tmp) / "reference-kb.db"
        write_topic_kb(reference_kb, topic_passages(KnowledgeStore(segments), items))
        nli = None
        if args.verifier == "nli":
            from tests.support.tiny_deberta_nli import build_tiny_deberta_nli

            nli = build_tiny_deberta_nli(Path(tmp) / "nli", texts=step.texts)
        ref_verifier = reference_verifier(args.verifier, nli)
        settings, problems, resume, cases, ref_stats = [], [], None, Counter(), {}
        for latency_ms in latencies:
            cache = LLMCache(Warehouse(Path(tmp) / f"llm-cache-{latency_ms}ms.duckdb"))
            verifier = build_verifier(args.verifier, cache, nli)
            warm_up(verifier, cache)
            store = KnowledgeStore(segments, ranking="per_topic")  # a fresh store: no index kept from before
            with SubprocessOpenAIServer(latency_s=latency_ms / 1000) as server:
                endpoint = EndpointConfig(base_url=server.base_url, model="judge", concurrency=args.concurrency)
                scorer = build_scorer(endpoint, store, cache, verifier)
                ours_s, ours_results, ours_stats = ours(scorer, items)
                problems += [f"{latency_ms} ms: {d}" for d in differences_once(ours_results, items, settings)]
                if latency_ms == resume_at:
                    again = build_scorer(endpoint, store, cache, build_verifier(args.verifier, cache, nli))
                    resume_s, resume_results, resume_stats = ours(again, items)
                # Built before the step, as their FactScorer is at start-up: KB, retriever, extractor client (its
                # connection open, as after an earlier step), verifier.
                ref_verifier.reset()
                retrieval = Retrieval(DocDB(reference_kb), "bm25")
                extractor = SyncChat(server.base_url, "judge")
                extractor.complete([{"role": "user", "content": "A warm-up call."}])
                extractor.calls = 0
                ref_s, ref_results, ref_stats = reference(items, server.base_url, retrieval, extractor, ref_verifier)
                extractor.close()
            found = differences(ours_results, ref_results, items)
            problems += [f"{latency_ms} ms: {d}" for d in found]
            calls = (ours_stats["judge_calls"], ours_stats["extraction_calls"])
            top = ceiling(ref_s, calls, args.concurrency, latency_ms / 1000)
            settings.append(
                {
                    "latency_ms": latency_ms,
                    "ours_s": round(ours_s, 4),
                    "reference_s": round(ref_s, 3),
                    "ratio": round(ref_s / ours_s, 2),
                    "ceiling": round(top, 1) if top else None,
                    "share_of_ceiling": round(ref_s / ours_s / top, 3) if top else None,
                    "concurrency": args.concurrency,
                    "ours_calls": sum(calls),
                    "background_write_s": round(ours_stats["write_s"], 4),
                    "reference_calls": ref_stats["calls"],
                    "differences": len(found),
                    "_results": ours_results,
                }
            )
            print(
                f"{latency_ms:>4} ms: ours {ours_s:.3f}s ({sum(calls)} calls, concurrency {args.concurrency} per "
                f"client), reference {ref_s:.2f}s ({ref_stats['calls']} calls one at a time) -> "
                f"{ref_s / ours_s:.1f}x"
                + (f" of a {top:.1f}x ceiling" if top else "")
                + f"; {len(found)} differences; cache write after the step {ours_stats['write_s']:.3f}s (in the "
                "background)",
                flush=True,
            )
            if latency_ms == resume_at:
                found = differences(resume_results, ref_results, items)
                problems += [f"resume: {d}" for d in found]
                resume = {
                    "latency_ms": latency_ms,
                    "s": round(resume_s, 4),
                    "ratio": round(ref_s / resume_s, 1),
                    "calls": resume_stats["judge_calls"] + resume_stats["extraction_calls"],
                    "differences": len(found),
                }
                print(
                    f"      resume (a re-score of an identical batch, from the warehouse cache; GRPO does this only "
                    f"when it resumes): {resume_s:.3f}s, {resume['calls']} calls -> {resume['ratio']}x"
                )
            cases = support_cases(ref_results, ref_stats["ranks"], items, store)
    for setting in settings:
        setting.pop("_results")
    n_facts = sum(len(r.facts) for r in ref_results)
    missing_cases = [
        c for c in ("rank 1", "ranks 2-5", "below the top 5", "no passage", "no evidence") if not cases[c]
    ]
    if missing_cases:
        problems.append(f"the data exercise no fact of these cases: {missing_cases}")
    print(
        f"{len(items)} completions, {n_facts} facts: "
        + ", ".join(f"{c} {cases[c]}" for c in ("rank 1", "ranks 2-5", "below the top 5", "no passage", "no evidence"))
        + f"; reference: {ref_stats['checks']} pair checks + {ref_stats['check_cache_hits']} cache hits, "
        f"{ref_stats['retrievals']} retrievals + {ref_stats['retrieval_cache_hits']} cache hits"
    )
    for line in problems[:20]:
        print("DIFFERENCE", line)
    figures = {
        "settings": settings,
        "resume": resume,
        "agree": not problems,
        "differences": len(problems),
        "completions": len(items),
        "facts": n_facts,
        "cases": dict(cases),
        "reference_checks": ref_stats["checks"],
        "reference_check_cache_hits": ref_stats["check_cache_hits"],
        "verifier": args.verifier,
        "ranking": "per_topic",
        "prompts": args.prompts,
    }
    print(json.dumps(figures))
    return 1 if problems else 0


def differences_once(results: list[Result], items: list[Item], settings: list[dict[str, Any]]) -> list[str]:
    """Ours must score the same step the same way at every latency."""
    if not settings:
        return []
    return differences(results, settings[0]["_results"], items)


def ctx_rows(ctx: StageContext, fingerprint: str) -> list[dict[str, Any]]:
    from storage.datasets import DatasetTables

    return DatasetTables(ctx.warehouse).rl_rows(fingerprint, split=None)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
