"""The KnowRL authors' reward-side work, modelled for the benchmarks' reference side (not their code).

It models github.com/zjunlp/KnowRL, train/reward_function/:
- correct_reward.py (`RewardEvaluator.get_score`) and FActScore/factscore/openai_lm.py + lm.py
  (`generate_batch` -> `call_ChatGPT`): a sync `openai.OpenAI` client, one chat call at a time, temperature 0,
  max_tokens 4096 -> `SyncChat`;
- FActScore/factscore/retrieval.py (`DocDB`, `Retrieval.get_passages`, `get_bm25_passages`,
  `get_gtr_passages`) -> `DocDB`, `Retrieval`;
- FActScore/factscore/factscorer.py (`_is_fact_supported_by_text_nli_optimized`, the NLI loop of `_get_score`):
  one (passage, fact) pair per forward, passages in retrieval order, early exit at P(entailment) >= 0.3, results
  kept in the scorer's `nli_cache` -> `PairNLI`; the same loop over another pair scorer (the lexical verifier our
  rules backend uses, when a benchmark compares both sides on it) -> `PairScorer`.

Every cache of theirs that lives in memory is modelled (result cache by topic + query, per-topic index,
lru_cache(100) on title reads, NLI cache per pair); the ones written to disk are off in their training setup
(`cache_dir=None`). Where their code does extra work that only slows it down (a thread pool around the passage
encoder on one device, a cache-saving thread every 10 retrievals that has nothing to save), we leave it out: the
reference must be as fast as their code, never slower.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

SEPARATOR = "####SPECIAL####SEPARATOR####"


def write_topic_kb(path: Path, rows: dict[str, list[str]]) -> None:
    """A KnowRL-format SQLite KB: table documents(title, text), passages joined by the separator."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE IF NOT EXISTS documents (title TEXT PRIMARY KEY, text TEXT)")
    values = ((title, SEPARATOR.join(passages)) for title, passages in rows.items())
    con.executemany("INSERT OR REPLACE INTO documents VALUES (?, ?)", values)
    con.commit()
    con.close()


class DocDB:
    """retrieval.py DocDB: opened once (their pragmas and row count), the paragraphs of a title read through an
    lru_cache of 100 titles, each read returned as a fresh list of {"title", "text"} dicts."""

    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(path, check_same_thread=False)
        for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "cache_size = 10000"):
            self.connection.execute(f"PRAGMA {pragma}")
        self.connection.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
        self.n_documents = self.connection.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        self._paragraphs = functools.lru_cache(maxsize=100)(self._read)
        self.reads = 0
        self.missing = 0

    def _read(self, title: str) -> tuple[str, ...]:
        self.reads += 1
        cursor = self.connection.cursor()
        cursor.execute("SELECT text FROM documents WHERE title = ?", (title,))
        rows = cursor.fetchall()
        cursor.close()
        if not rows:
            # Theirs raises ValueError here, FactScorer.get_score re-raises, and fact_reward.py then scores the whole
            # batch's factuality 0 (a documented difference: README). A benchmark whose questions include some
            # without any page reads a miss as "no passages" instead: the topic's facts are unsupported, with no
            # retrieval and no NLI (never more work than theirs), which is what our reward gives such a question.
            self.missing += 1
            return ()
        return tuple(rows[0][0].split(SEPARATOR))

    def get_text_from_title(self, title: str) -> list[dict[str, str]]:
        return [{"title": title, "text": para} for para in self._paragraphs(title)]


class Retrieval:
    """retrieval.py Retrieval.get_passages: query = topic + " " + fact; results cached by topic + "#" + query in an
    unbounded dict; the topic's passages read as ONE title; per topic one index built on first use and kept in an
    unbounded dict (`embed_cache`): rank_bm25's BM25Okapi over whitespace tokens ("bm25"), or the passages'
    embeddings of `title + " " + text` ("dense", their default gtr-t5-large; here any sentence-transformers
    model). Dense queries are encoded one per call; scores by np.inner; top k by np.argsort(-scores)."""

    def __init__(
        self, db: DocDB, kind: str = "bm25", encoder: str | Path | None = None, batch_size: int = 512
    ) -> None:
        if kind not in ("bm25", "dense"):
            raise ValueError(f"kind must be bm25 or dense, got {kind}")
        if kind == "dense" and encoder is None:
            raise ValueError("the dense retriever needs a sentence-transformers model")
        self.db = db
        self.kind = kind
        self.encoder_path = encoder
        self.encoder: Any = None
        # FactScorer passes its batch_size (512) to Retrieval: passages of a topic are encoded in batches of it.
        self.batch_size = batch_size
        self.cache: dict[str, list[dict[str, str]]] = {}
        self.embed_cache: dict[str, Any] = {}
        self.hits = 0
        self.misses = 0
        self.query_encodings = 0

    def load_encoder(self) -> None:
        """Loaded lazily on the first dense retrieval, as theirs (on the GPU when there is one)."""
        import torch
        from sentence_transformers import SentenceTransformer

        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.encoder = SentenceTransformer(str(self.encoder_path), device=device).eval()

    def get_passages(self, topic: str, fact: str, k: int = 5) -> list[dict[str, str]]:
        query = topic + " " + fact.strip()
        key = topic + "#" + query
        if key in self.cache:
            self.hits += 1
            return self.cache[key]
        self.misses += 1
        passages = self.db.get_text_from_title(topic)
        if not passages:
            results: list[dict[str, str]] = []
        elif self.kind == "bm25":
            results = self._bm25(topic, query, passages, k)
        else:
            results = self._dense(topic, query, passages, k)
        self.cache[key] = results
        return results

    def _bm25(self, topic: str, query: str, passages: list[dict[str, str]], k: int) -> list[dict[str, str]]:
        from rank_bm25 import BM25Okapi

        bm25 = self.embed_cache.get(topic)
        if bm25 is None:
            bm25 = BM25Okapi([p["text"].replace("<s>", "").replace("</s>", "").split() for p in passages])
            self.embed_cache[topic] = bm25
        scores = bm25.get_scores(query.split())
        return [passages[i] for i in np.argsort(-scores)[:k]]

    def _dense(self, topic: str, query: str, passages: list[dict[str, str]], k: int) -> list[dict[str, str]]:
        if self.encoder is None:
            self.load_encoder()
        vectors = self.embed_cache.get(topic)
        if vectors is None:
            inputs = [p["title"] + " " + p["text"].replace("<s>", "").replace("</s>", "") for p in passages]
            # Theirs submits each batch of batch_size inputs to a thread pool; on one device that adds nothing.
            vectors = np.asarray(
                self.encoder.encode(inputs, batch_size=self.batch_size, show_progress_bar=False), dtype=np.float32
            )
            self.embed_cache[topic] = vectors
        self.query_encodings += 1
        query_vector = self.encoder.encode([query], batch_size=self.batch_size, show_progress_bar=False)[0]
        scores = np.inner(query_vector, vectors)
        return [passages[i] for i in np.argsort(-scores)[:k]]


class PairScorer:
    """factscorer.py's NLI check around any pair scorer: one (passage, fact) pair per call of `probability`, results
    cached per pair for the scorer's lifetime (their `nli_cache`); a fact is supported at the first passage, in
    retrieval order, whose P(entailment) reaches the threshold (their `break`). `ranks` records, per fact checked,
    the 1-based rank of that passage (None: no passage supported it): bookkeeping only, no extra work."""

    def __init__(self, probability: Callable[[str, str], float], threshold: float = 0.3) -> None:
        self.probability = probability  # (fact, passage) -> P(entailment)
        self.threshold = threshold
        self.cache: dict[tuple[str, str], bool] = {}
        self.forwards = 0
        self.cache_hits = 0
        self.ranks: list[int | None] = []

    def reset(self) -> None:
        """A new scorer's empty caches (a new FactScorer), the model kept."""
        self.cache.clear()
        self.forwards = self.cache_hits = 0
        self.ranks = []

    def pair_supported(self, fact: str, passage: str) -> bool:
        if not fact or not passage:
            return False
        key = (fact, passage)
        if key in self.cache:
            self.cache_hits += 1
            return self.cache[key]
        self.forwards += 1
        supported = bool(self.probability(fact, passage) >= self.threshold)
        self.cache[key] = supported
        return supported

    def fact_support_rank(self, fact: str, passages: list[dict[str, str]]) -> int | None:
        texts = [p["text"].replace("<s>", "").replace("</s>", "") for p in passages]
        rank = next((r for r, text in enumerate(texts, 1) if self.pair_supported(fact, text)), None)  # stops early
        self.ranks.append(rank)
        return rank

    def fact_supported(self, fact: str, passages: list[dict[str, str]]) -> bool:
        return self.fact_support_rank(fact, passages) is not None


class PairNLI(PairScorer):
    """The NLI model of their check: premise = passage, hypothesis = fact, truncated together to 512 tokens, fp16
    on a GPU of compute capability >= 7, one pair per forward."""

    def __init__(self, model_path: str | Path, threshold: float = 0.3) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        super().__init__(self._probability, threshold)
        self._torch = torch
        self.device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_path))
        model = AutoModelForSequenceClassification.from_pretrained(str(model_path))
        if self.device.type == "cuda" and torch.cuda.get_device_capability(self.device)[0] >= 7:
            model = model.half()
        self.model = model.to(self.device).eval()
        label = next((name for name in self.model.config.label2id if name.upper() == "ENTAILMENT"), "ENTAILMENT")
        self.entail = next(int(i) for i, name in self.model.config.id2label.items() if name == label)
        # Theirs: 512 (their model's limit); capped by the model's own limit for the benchmarks' tiny model.
        self.max_length = min(512, self.tokenizer.model_max_length)

    def _probability(self, fact: str, passage: str) -> float:
        torch = self._torch
        with torch.no_grad():
            inputs = self.tokenizer(
                [passage], [fact], return_tensors="pt", padding=True, truncation=True, max_length=self.max_length
            ).to(self.device)
            probs = torch.nn.functional.softmax(self.model(**inputs).logits, dim=-1)
        return float(probs[0, self.entail].item())


class SyncChat:
    """A sync openai.OpenAI client making one chat call at a time (temperature 0, max_tokens 4096), as their judge
    and fact extractor do."""

    def __init__(self, base_url: str, model: str, timeout_s: float = 60.0) -> None:
        from openai import OpenAI

        self.client = OpenAI(api_key="unused", base_url=base_url, timeout=timeout_s)
        self.model = model
        self.calls = 0

    def complete(self, messages: list[dict[str, str]]) -> str:
        self.calls += 1
        response = self.client.chat.completions.create(
            model=self.model, messages=messages, temperature=0.0, max_tokens=4096
        )
        return response.choices[0].message.content or ""

    def close(self) -> None:
        self.client.close()
