"""The knowledge store: segments of passages with `search(query, titles, k)` scoped by page title.

A store is a small manifest listing its segments (each an artifact of its own), so an incremental build
adds one segment for the new pages and reuses the others untouched. BM25 statistics are per segment:
scores of pages indexed in different builds are compared as they are; `knowrl` rebuilds from scratch
when the passage settings change, which keeps one segment per store in the common case.

`ranking="per_topic"` ranks a question's passages as the KnowRL authors' retriever does instead: BM25Okapi with
the statistics of the question's own passages, over whitespace tokens (topic_bm25.py). The candidates are the same
(the passages of the question's titles); only their order, and so the top k, can differ (benchmarks/bench_retrieval.py
measures by how much).
"""

from __future__ import annotations

import json
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from knowrl.data.normalize import title_key
from knowrl.knowledge.dense import DenseIndex
from knowrl.knowledge.segment import Segment, query_tokens
from knowrl.knowledge.topic_bm25 import TopicIndex

STORE_FILE = "store.json"
RANKINGS = ("segment", "per_topic")
TOPIC_CACHE = 4096  # per-topic indexes kept (the authors keep every topic's; a GRPO step asks for a few dozen)
Reps = sp.csr_matrix | np.ndarray  # per query: a BM25 row over a segment's vocabulary, or a dense embedding row


class Passage(NamedTuple):
    """A stored passage. One object per candidate of a search, shared by every query's result that ranks it: a
    training step ranks ten thousand (query, passage) pairs over a few hundred distinct passages."""

    title: str
    passage_idx: int
    text: str


@dataclass
class SearchResult:
    passages: list[Passage]  # best first; empty when none of the titles is in the store: no evidence to retrieve
    scores: list[float] = field(default_factory=list)  # the query's score of each passage, in the same order
    missing_titles: list[str] = field(default_factory=list)


class KnowledgeStore:
    """BM25 over each segment by default (`ranking="per_topic"`: per question's titles, as the authors rank); with a
    DenseIndex, cosine similarity of embeddings instead."""

    def __init__(self, segments: list[Segment], dense: DenseIndex | None = None, ranking: str = "segment") -> None:
        if ranking not in RANKINGS:
            raise ValueError(f"ranking must be one of {RANKINGS}, got {ranking!r}")
        if ranking == "per_topic" and dense is not None:
            raise ValueError("ranking='per_topic' is a BM25 ranking; a dense store ranks by embeddings")
        self.segments = segments
        self.dense = dense
        self.ranking = ranking
        self._owners: dict[str, tuple[int, int] | None] = {}
        self._topics: OrderedDict[tuple[tuple[int, int], ...], tuple[TopicIndex, list[Passage]]] = OrderedDict()

    def _owners_of(self, keys: list[str]) -> dict[str, tuple[int, int] | None]:
        """(segment, title number in it) of each title key: the first segment holding it (a store has few
        segments, so no merged index is built on open), None where none has it. Looked up together, one hash
        search per segment, and remembered: a GRPO run asks about the same few thousand titles every step."""
        new = [key for key in dict.fromkeys(keys) if key not in self._owners]
        if new:
            if len(self._owners) + len(new) > 1_000_000:
                self._owners.clear()
            owners: dict[str, tuple[int, int] | None] = dict.fromkeys(new)
            for number, segment in enumerate(self.segments):
                unowned = [key for key, owner in owners.items() if owner is None]
                for key, found in zip(unowned, segment.title_index.lookup(unowned).tolist(), strict=True):
                    if found >= 0:
                        owners[key] = (number, found)
            self._owners.update(owners)
        return {key: self._owners[key] for key in keys}

    @classmethod
    def open(
        cls,
        store_dir: Path,
        segment_dirs: list[Path] | None = None,
        dense: DenseIndex | None = None,
        ranking: str = "segment",
    ) -> KnowledgeStore:
        """Open a store artifact; its segments are found beside it in the artifact store."""
        if segment_dirs is None:
            manifest = json.loads((store_dir / STORE_FILE).read_text())
            root = store_dir.parent.parent / "knowledge-segment"
            segment_dirs = [root / seg_id for seg_id in manifest["segments"]]
        return cls([Segment(d) for d in segment_dirs], dense, ranking)

    @property
    def n_passages(self) -> int:
        return sum(s.n_passages for s in self.segments)

    def covers(self, titles: list[str]) -> bool:
        """Whether any of the titles is in the store (a question with none has no evidence)."""
        return any(owner is not None for owner in self._owners_of([title_key(t) for t in titles]).values())

    def search(self, query: str, titles: list[str], k: int = 5) -> SearchResult:
        return self.search_batch([query], [titles], k)[0]

    def search_batch(self, queries: list[str], titles: list[list[str]], k: int = 5) -> list[SearchResult]:
        """Answer many queries at once: queries sharing a title set are scored in one sparse product.

        Retrieval never leaves the titles given: when none of them is in the store the result has no passages
        (the authors' retriever reads only the question's own pages)."""
        if len(queries) != len(titles):
            raise ValueError(f"{len(queries)} queries but {len(titles)} title lists")
        per_topic = self.ranking == "per_topic"
        # Query representations: embedding rows for the dense backend; for BM25, per segment (each has its own
        # vocabulary) one sparse row per query, made when a group first needs that segment.
        embedded = self.dense.embedder.encode(list(queries)) if self.dense else None
        tokens = query_tokens(list(queries)) if embedded is None and not per_topic else []
        query_rows: dict[int, sp.csr_matrix] = {}

        def reps(number: int, members: list[int]) -> Reps:
            if embedded is not None:
                return embedded[members]
            if number not in query_rows:
                query_rows[number] = self.segments[number].query_matrix(tokens)
            return query_rows[number][members]

        results: list[SearchResult | None] = [None] * len(queries)
        # Group by the raw title list first: title normalisation then runs once per group, not per query.
        groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for i, title_list in enumerate(titles):
            groups[tuple(title_list)].append(i)
        group_keys = {raw: list(dict.fromkeys(title_key(t) for t in raw)) for raw in groups}
        self._owners_of([key for keys in group_keys.values() for key in keys])  # one lookup per segment for all
        for raw_titles, members in groups.items():
            owner = self._owners_of(group_keys[raw_titles])
            missing = [t for t in raw_titles if owner[title_key(t)] is None]
            per_segment: dict[int, list[int]] = defaultdict(list)  # segment -> its title numbers
            for found in owner.values():
                if found is not None:
                    per_segment[found[0]].append(found[1])
            if not per_segment:
                scored: list[tuple[list[Passage], list[float]]] = [([], [])] * len(members)
            elif per_topic:
                scored = self._per_topic(per_segment, [queries[i] for i in members], k)
            else:
                scored = self._scoped(per_segment, members, reps, k)
            for i, (passages, scores) in zip(members, scored, strict=True):
                results[i] = SearchResult(passages, scores, missing)
        return results  # type: ignore[return-value]

    def _per_topic(
        self, per_segment: dict[int, list[int]], queries: list[str], k: int
    ) -> list[tuple[list[Passage], list[float]]]:
        """The authors' ranking: BM25Okapi over the topic's own passages (built on the topic's first query, kept)."""
        key = tuple((number, title) for number, titles in per_segment.items() for title in titles)
        entry = self._topics.get(key)
        if entry is None:
            candidates = [
                Passage(*row)
                for number, titles in per_segment.items()
                for row in self.segments[number].passages(
                    self.segments[number].title_rows(np.asarray(titles, dtype=np.int64))
                )
            ]
            entry = self._topics[key] = (TopicIndex([p.text for p in candidates]), candidates)
            if len(self._topics) > TOPIC_CACHE:
                self._topics.popitem(last=False)
        else:
            self._topics.move_to_end(key)
        index, candidates = entry
        order, scores = index.top(queries, k)
        return [
            ([candidates[c] for c in columns], row)
            for columns, row in zip(order.tolist(), scores.astype(float).tolist(), strict=True)
        ]

    def _scoped(
        self, per_segment: dict[int, list[int]], members: list[int], reps: Callable[[int, list[int]], Reps], k: int
    ) -> list[tuple[list[Passage], list[float]]]:
        blocks, candidates = [], []
        for number, title_numbers in per_segment.items():
            segment = self.segments[number]
            rows = segment.title_rows(np.asarray(title_numbers, dtype=np.int64))
            if self.dense is None:
                blocks.append(segment.score(reps(number, members), rows))
            else:
                blocks.append(np.asarray(reps(number, members)) @ np.asarray(self.dense.embeddings[number][rows]).T)
            candidates.extend(Passage(*row) for row in segment.passages(rows))
        scores = np.hstack(blocks) if len(blocks) > 1 else blocks[0]
        top = min(k, scores.shape[1])
        order = np.argsort(-scores, axis=1, kind="stable")[:, :top]
        # Python lists once, not a numpy scalar per (query, passage).
        top_scores = np.take_along_axis(scores, order, axis=1).astype(float).tolist()
        ranked = order.tolist()
        return [([candidates[c] for c in columns], row) for columns, row in zip(ranked, top_scores, strict=True)]
