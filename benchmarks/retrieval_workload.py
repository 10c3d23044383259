"""The retrieval benchmark's workload (benchmarks/bench_retrieval.py): a Zipf-worded corpus of pages (our store's
pages.jsonl and the authors' KnowRL-format SQLite KB) and GRPO steps of title-scoped fact queries over it."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.authors_reference import SEPARATOR, write_topic_kb

VOCAB = 50_000
WORDS_PER_PASSAGE = 40
STEPS, QUESTIONS, TITLES_PER_Q, COMPLETIONS, FACTS = 20, 20, 4, 200, 10


def words() -> np.ndarray:
    return np.array([f"w{i}" for i in range(VOCAB)])


@dataclass
class Step:
    topics: list[str]  # per query: the question's title string
    titles: list[list[str]]  # per query: the question's titles
    facts: list[str]

    @property
    def queries(self) -> list[str]:
        return [f"{topic} {fact}" for topic, fact in zip(self.topics, self.facts, strict=True)]

    @property
    def scopes(self) -> list[list[str]]:
        """What our reward scorer passes as a question's titles: each title, and the whole title string."""
        return [[*titles, topic] for titles, topic in zip(self.titles, self.topics, strict=True)]


def workload(n_titles: int, steps: int, seed: int = 1) -> list[Step]:
    rng = np.random.default_rng(seed)
    vocab = words()
    out = []
    for _ in range(steps):
        step = Step([], [], [])
        for _ in range(QUESTIONS):
            q_titles = [f"Title {t}" for t in rng.integers(0, n_titles, TITLES_PER_Q)]
            topic = ";".join(q_titles)
            for _ in range(COMPLETIONS // QUESTIONS * FACTS):
                ranks = np.minimum(rng.zipf(1.2, size=8), VOCAB) - 1
                step.topics.append(topic)
                step.titles.append(q_titles)
                step.facts.append(" ".join(vocab[ranks]))
        out.append(step)
    return out


def make_corpus(n_passages: int, steps: int, out: Path, seed: int = 0) -> None:
    """pages.jsonl (our store's input) and the KnowRL-format SQLite KB: a row per title, and a row per question's
    topic string holding its titles' passages (the authors' retriever reads a topic as one title)."""
    rng = np.random.default_rng(seed)
    vocab = words()
    n_titles = n_passages // 10
    ranks = np.minimum(rng.zipf(1.2, size=n_passages * WORDS_PER_PASSAGE), VOCAB) - 1
    tokens = vocab[ranks].reshape(n_passages, WORDS_PER_PASSAGE)
    passages = [" ".join(row) for row in tokens]

    def page(title: str) -> list[str]:
        t = int(title.rsplit(" ", 1)[1])
        return passages[t * 10 : t * 10 + 10]

    con = sqlite3.connect(out / "kb.db")
    con.execute("CREATE TABLE documents (title TEXT PRIMARY KEY, text TEXT)")
    con.executemany(
        "INSERT INTO documents VALUES (?, ?)",
        ((f"Title {t}", SEPARATOR.join(page(f"Title {t}"))) for t in range(n_titles)),
    )
    con.commit()
    con.close()
    topics = {}
    for step in workload(n_titles, steps):
        for topic, titles in zip(step.topics, step.titles, strict=True):
            topics[topic] = [p for title in dict.fromkeys(titles) for p in page(title)]
    write_topic_kb(out / "kb.db", topics)
    with (out / "pages.jsonl").open("w") as handle:
        for t in range(n_titles):
            handle.write(json.dumps({"title": f"Title {t}", "passages": page(f"Title {t}")}) + "\n")
    (out / "meta.json").write_text(json.dumps({"n_passages": n_passages, "n_titles": n_titles, "steps": steps}))


def load_steps(data: Path) -> list[Step]:
    meta = json.loads((data / "meta.json").read_text())
    return workload(meta["n_titles"], meta["steps"])
