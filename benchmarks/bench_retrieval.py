"""Knowledge-store retrieval vs the reference way, on a synthetic store shaped like the KnowRL KB.

Store: N passages over N/10 titles, Zipf-distributed words. Workload per GRPO step: 20 questions x 4 titles,
200 completions x 10 facts, each fact queried against its question's titles, top 5; 20 steps.
Reference (the KnowRL code's way): per title, read the page from SQLite and build rank_bm25's BM25Okapi on its
first query, keep it in memory; per (fact, title): score the title's passages, argsort, merge the top 5.
Each measurement that needs a fresh process gets one. The last line printed is one JSON object.

    python benchmarks/bench_retrieval.py            # 1,000,000 passages (several minutes)
    python benchmarks/bench_retrieval.py --scale 0.05
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SEPARATOR = "####SPECIAL####SEPARATOR####"
VOCAB = 50_000
WORDS_PER_PASSAGE = 40
STEPS, QUESTIONS, TITLES_PER_Q, COMPLETIONS, FACTS = 20, 20, 4, 200, 10


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024**2)


def current_rss_gib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1024**3


def words() -> np.ndarray:
    return np.array([f"w{i}" for i in range(VOCAB)])


def make_corpus(n_passages: int, out: Path, seed: int = 0) -> None:
    """pages.npy-style inputs: titles list and passages (as a JSON lines file), plus the KnowRL SQLite KB."""
    rng = np.random.default_rng(seed)
    vocab = words()
    n_titles = n_passages // 10
    ranks = np.minimum(rng.zipf(1.2, size=n_passages * WORDS_PER_PASSAGE), VOCAB) - 1
    tokens = vocab[ranks].reshape(n_passages, WORDS_PER_PASSAGE)
    passages = [" ".join(row) for row in tokens]
    con = sqlite3.connect(out / "kb.db")
    con.execute("CREATE TABLE documents (title TEXT PRIMARY KEY, text TEXT)")
    con.executemany(
        "INSERT INTO documents VALUES (?, ?)",
        ((f"Title {t}", SEPARATOR.join(passages[t * 10 : t * 10 + 10])) for t in range(n_titles)),
    )
    con.commit()
    con.close()
    with (out / "pages.jsonl").open("w") as handle:
        for t in range(n_titles):
            handle.write(json.dumps({"title": f"Title {t}", "passages": passages[t * 10 : t * 10 + 10]}) + "\n")
    (out / "meta.json").write_text(json.dumps({"n_passages": n_passages, "n_titles": n_titles}))


def workload(n_titles: int, seed: int = 1) -> list[tuple[list[str], list[list[str]]]]:
    """Per step: the facts (queries) and each fact's titles."""
    rng = np.random.default_rng(seed)
    vocab = words()
    steps = []
    for _ in range(STEPS):
        queries, titles = [], []
        for _ in range(QUESTIONS):
            q_titles = [f"Title {t}" for t in rng.integers(0, n_titles, TITLES_PER_Q)]
            for _ in range(COMPLETIONS // QUESTIONS * FACTS):
                ranks = np.minimum(rng.zipf(1.2, size=8), VOCAB) - 1
                queries.append(" ".join(vocab[ranks]))
                titles.append(q_titles)
        steps.append((queries, titles))
    return steps


def cmd_build(data: Path, store: Path) -> dict:
    from knowrl.knowledge.segment import PageBatch, build_segment

    titles, passages = [], []
    with (data / "pages.jsonl").open() as handle:
        for line in handle:
            row = json.loads(line)
            titles.append(row["title"])
            passages.append(row["passages"])
    started = time.perf_counter()
    stats = build_segment(store, PageBatch(titles, passages))
    seconds = time.perf_counter() - started
    return {"build_s": seconds, "build_passages_per_s": stats["passages"] / seconds, "peak_rss_gib": peak_rss_gib()}


def cmd_ours(data: Path, store: Path) -> dict:
    # Imports first, as for the reference: we time opening the index, not loading Python modules.
    from knowrl.knowledge.segment import Segment
    from knowrl.knowledge.store import KnowledgeStore

    started = time.perf_counter()
    kb = KnowledgeStore([Segment(store)])
    open_s = time.perf_counter() - started
    n_titles = json.loads((data / "meta.json").read_text())["n_titles"]
    steps = workload(n_titles)
    timings = []
    for queries, titles in steps:
        t0 = time.perf_counter()
        results = kb.search_batch(queries, titles, k=5)
        timings.append(time.perf_counter() - t0)
        assert len(results) == len(queries) and all(r.scoped for r in results)
    t0 = time.perf_counter()
    kb.search_batch(*steps[0], k=5)
    warm = time.perf_counter() - t0
    return {
        "open_s": open_s,
        "cold_step_s": open_s + timings[0],
        "warm_step_s": warm,
        "steps_s": sum(timings),
        "rss_after_gib": current_rss_gib(),
    }


def cmd_reference(data: Path) -> dict:
    import bm25s
    from rank_bm25 import BM25Okapi

    con = sqlite3.connect(data / "kb.db")
    cache: dict[str, tuple[BM25Okapi, list[str]]] = {}

    def index(title: str) -> tuple[BM25Okapi, list[str]]:
        if title not in cache:
            text = con.execute("SELECT text FROM documents WHERE title = ?", [title]).fetchone()[0]
            passages = text.split(SEPARATOR)
            tokenized = bm25s.tokenize(passages, return_ids=False, show_progress=False, stopwords="en")
            cache[title] = (BM25Okapi(tokenized), passages)
        return cache[title]

    def step(queries: list[str], titles: list[list[str]]) -> None:
        tokens = bm25s.tokenize(queries, return_ids=False, show_progress=False, stopwords="en")
        for query, q_titles in zip(tokens, titles, strict=True):
            scored = []
            for title in q_titles:
                bm25, passages = index(title)
                scores = bm25.get_scores(query)
                top = np.argsort(-scores)[:5]
                scored.extend((scores[i], passages[i]) for i in top)
            scored.sort(key=lambda x: -x[0])
            _ = scored[:5]

    n_titles = json.loads((data / "meta.json").read_text())["n_titles"]
    steps = workload(n_titles)
    timings = []
    for queries, titles in steps:
        t0 = time.perf_counter()
        step(queries, titles)
        timings.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    step(*steps[0])
    warm = time.perf_counter() - t0
    return {
        "ref_cold_step_s": timings[0],
        "ref_warm_step_s": warm,
        "ref_steps_s": sum(timings),
        "ref_rss_after_gib": current_rss_gib(),
    }


def child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 1,000,000 passages")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        command, *paths = args.child
        result = {"build": cmd_build, "ours": cmd_ours, "reference": cmd_reference}[command](*map(Path, paths))
        print(json.dumps(result))
        return
    n_passages = int(1_000_000 * args.scale)
    with tempfile.TemporaryDirectory(prefix="bench-retrieval-") as tmp:
        data, store = Path(tmp) / "data", Path(tmp) / "store"
        data.mkdir()
        t0 = time.perf_counter()
        make_corpus(n_passages, data)
        print(
            f"corpus: {n_passages:,} passages over {n_passages // 10:,} titles in {time.perf_counter() - t0:.1f}s",
            flush=True,
        )
        figures = child("--child", "build", str(data), str(store))
        print(
            f"build: {figures['build_passages_per_s']:,.0f} passages/s, peak RSS {figures['peak_rss_gib']:.2f} GiB",
            flush=True,
        )
        figures.update(child("--child", "ours", str(data), str(store)))
        figures.update(child("--child", "reference", str(data)))
    figures["cold_speedup"] = figures["ref_cold_step_s"] / figures["cold_step_s"]
    figures["warm_speedup"] = figures["ref_warm_step_s"] / figures["warm_step_s"]
    figures["n_passages"] = n_passages
    queries = COMPLETIONS * FACTS
    print(f"open persisted index in a fresh process: {figures['open_s']:.2f}s (target <= 2 s)")
    print(
        f"first step, fresh process: ours {figures['cold_step_s']:.3f}s vs reference "
        f"{figures['ref_cold_step_s']:.3f}s -> {figures['cold_speedup']:.1f}x (target >= 5x)"
    )
    print(
        f"steady state ({queries} queries/step): ours {figures['warm_step_s']:.3f}s vs reference "
        f"{figures['ref_warm_step_s']:.3f}s -> {figures['warm_speedup']:.1f}x (target >= 5x)"
    )
    print(
        f"RSS after {STEPS} steps: ours {figures['rss_after_gib']:.2f} GiB vs reference "
        f"{figures['ref_rss_after_gib']:.2f} GiB"
    )
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
