"""The knowledge store: segments of passages with `search(query, titles, k)` scoped by page title.

A store is a small manifest listing its segments (each an artifact of its own), so an incremental build
adds one segment for the new pages and reuses the others untouched. BM25 statistics are per segment:
scores of pages indexed in different builds are compared as they are; `knowrl` rebuilds from scratch
when the passage settings change, which keeps one segment per store in the common case.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from knowrl.data.normalize import title_key
from knowrl.knowledge.dense import DenseIndex
from knowrl.knowledge.segment import Segment, tokenize

STORE_FILE = "store.json"
Reps = list[list[str]] | np.ndarray  # per query: BM25 tokens, or a dense embedding row


def _take(reps: Reps, rows: list[int]) -> Reps:
    return reps[rows] if isinstance(reps, np.ndarray) else [reps[i] for i in rows]


class Passage(NamedTuple):
    """A retrieved passage (a NamedTuple: a training step builds tens of thousands of them)."""

    title: str
    passage_idx: int
    text: str
    score: float


@dataclass
class SearchResult:
    passages: list[Passage]  # empty when none of the titles is in the store: there is no evidence to retrieve
    missing_titles: list[str] = field(default_factory=list)


class KnowledgeStore:
    """BM25 over each segment by default; with a DenseIndex, cosine similarity of embeddings instead."""

    def __init__(self, segments: list[Segment], dense: DenseIndex | None = None) -> None:
        self.segments = segments
        self.dense = dense

    def _segment_of(self, key: str) -> int | None:
        """The first segment holding a title (a store has few segments: no merged index to build on open)."""
        for number, segment in enumerate(self.segments):
            if key in segment.title_index:
                return number
        return None

    @classmethod
    def open(
        cls, store_dir: Path, segment_dirs: list[Path] | None = None, dense: DenseIndex | None = None
    ) -> KnowledgeStore:
        """Open a store artifact; its segments are found beside it in the artifact store."""
        if segment_dirs is None:
            manifest = json.loads((store_dir / STORE_FILE).read_text())
            root = store_dir.parent.parent / "knowledge-segment"
            segment_dirs = [root / seg_id for seg_id in manifest["segments"]]
        return cls([Segment(d) for d in segment_dirs], dense)

    @property
    def n_passages(self) -> int:
        return sum(s.n_passages for s in self.segments)

    def covers(self, titles: list[str]) -> bool:
        """Whether any of the titles is in the store (a question with none has no evidence)."""
        return any(self._segment_of(title_key(t)) is not None for t in titles)

    def search(self, query: str, titles: list[str], k: int = 5) -> SearchResult:
        return self.search_batch([query], [titles], k)[0]

    def search_batch(self, queries: list[str], titles: list[list[str]], k: int = 5) -> list[SearchResult]:
        """Answer many queries at once: queries sharing a title set are scored in one sparse product.

        Retrieval never leaves the titles given: when none of them is in the store the result has no passages
        (the authors' retriever reads only the question's own pages)."""
        if len(queries) != len(titles):
            raise ValueError(f"{len(queries)} queries but {len(titles)} title lists")
        # Query representations: token lists for BM25, embedding rows for the dense backend.
        reps = self.dense.embedder.encode(list(queries)) if self.dense else tokenize(list(queries))
        results: list[SearchResult | None] = [None] * len(queries)
        # Group by the raw title list first: title normalisation then runs once per group, not per query.
        groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for i, title_list in enumerate(titles):
            groups[tuple(title_list)].append(i)
        for raw_titles, members in groups.items():
            keys = list(dict.fromkeys(title_key(t) for t in raw_titles))
            found = [key for key in keys if self._segment_of(key) is not None]
            missing = [t for t in raw_titles if self._segment_of(title_key(t)) is None]
            if not found:
                for i in members:
                    results[i] = SearchResult([], missing)
                continue
            scored = self._scoped(found, _take(reps, members), k)
            for i, passages in zip(members, scored, strict=True):
                results[i] = SearchResult(passages, missing)
        return results  # type: ignore[return-value]

    def _scoped(self, keys: list[str], reps: Reps, k: int) -> list[list[Passage]]:
        per_segment: dict[int, list[str]] = defaultdict(list)
        for key in keys:
            per_segment[self._segment_of(key)].append(key)
        blocks, candidates = [], []
        for number, seg_keys in per_segment.items():
            segment = self.segments[number]
            rows = segment.candidate_rows(seg_keys)
            if self.dense is None:
                blocks.append(segment.score(segment.query_matrix(reps), rows))
            else:
                blocks.append(np.asarray(reps) @ np.asarray(self.dense.embeddings[number][rows]).T)
            candidates.extend(segment.passages(rows))
        scores = np.hstack(blocks) if len(blocks) > 1 else blocks[0]
        top = min(k, scores.shape[1])
        order = np.argsort(-scores, axis=1, kind="stable")[:, :top]
        return [[Passage(*candidates[c], float(scores[q, c])) for c in columns] for q, columns in enumerate(order)]
