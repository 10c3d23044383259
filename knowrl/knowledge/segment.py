"""A segment: the BM25 index (bm25s) of a set of pages, persisted as memory-mappable arrays.

bm25s computes the BM25 weight of every (passage, term) pair and stores them column-wise (per term).
For title-scoped retrieval we also keep them row-wise (per passage): scoring a question's few dozen
candidate passages is then one small sparse product, without touching the other million passages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np
import scipy.sparse as sp

from knowrl.data.normalize import title_key

STOPWORDS = "en"


def tokenize(texts: list[str]) -> list[list[str]]:
    return bm25s.tokenize(texts, stopwords=STOPWORDS, return_ids=False, show_progress=False)


@dataclass
class PageBatch:
    titles: list[str]
    passages: list[list[str]]


def build_segment(out_dir: Path, pages: PageBatch) -> dict[str, int]:
    """Index the pages' passages into `out_dir`; passages of one page are contiguous rows."""
    out_dir.mkdir(parents=True, exist_ok=True)
    texts: list[str] = []
    spans: dict[str, list[int]] = {}
    page_titles: list[str] = []
    passage_idx: list[int] = []
    for title, passages in zip(pages.titles, pages.passages, strict=True):
        key = title_key(title)
        if key in spans or not passages:
            continue
        spans[key] = [len(texts), len(texts) + len(passages)]
        texts.extend(passages)
        page_titles.extend([title] * len(passages))
        passage_idx.extend(range(len(passages)))
    if not texts:
        raise ValueError("no passages to index")
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords=STOPWORDS, show_progress=False), show_progress=False)
    retriever.save(str(out_dir / "bm25"), show_progress=False)
    scores = retriever.scores
    csc = sp.csc_matrix(
        (scores["data"], scores["indices"], scores["indptr"]), shape=(scores["num_docs"], len(scores["indptr"]) - 1)
    )
    csr = csc.tocsr()
    csr.sort_indices()
    np.save(out_dir / "rows.data.npy", csr.data.astype(np.float32))
    np.save(out_dir / "rows.indices.npy", csr.indices.astype(np.int32))
    np.save(out_dir / "rows.indptr.npy", csr.indptr.astype(np.int64))
    # Passage texts as one UTF-8 blob plus offsets: reading row i is a slice of a memory map, O(1) whatever
    # the store's size (an Arrow take over a million-row chunked column costs milliseconds per call).
    encoded = [t.encode() for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    (out_dir / "texts.bin").write_bytes(b"".join(encoded))
    np.save(out_dir / "texts.offsets.npy", offsets)
    titles_in_order = list(dict.fromkeys(page_titles))
    title_number = {t: i for i, t in enumerate(titles_in_order)}
    np.save(out_dir / "rows.page.npy", np.array([title_number[t] for t in page_titles], dtype=np.int32))
    np.save(out_dir / "rows.passage_idx.npy", np.array(passage_idx, dtype=np.int32))
    (out_dir / "pages.json").write_text(json.dumps(titles_in_order))
    # Title keys as a JSON list and their row spans as an array: a dict of lists in JSON takes ~15x longer
    # to parse, and opening the store is on the path of a retried training step.
    (out_dir / "title_keys.json").write_text(json.dumps(list(spans)))
    np.save(out_dir / "title_spans.npy", np.array(list(spans.values()), dtype=np.int64).reshape(-1, 2))
    return {"pages": len(spans), "passages": len(texts)}


class Segment:
    """An opened segment: arrays are memory-mapped, so opening costs milliseconds, not a full load."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        keys: list[str] = json.loads((directory / "title_keys.json").read_text())
        self.title_index: dict[str, int] = dict(zip(keys, range(len(keys)), strict=True))
        self._spans = np.load(directory / "title_spans.npy")
        self.vocab: dict[str, int] = json.loads((directory / "bm25" / "vocab.index.json").read_text())
        # The raw CSR arrays, memory-mapped: wrapping them in a scipy matrix here would scan all of them.
        self._data = np.load(directory / "rows.data.npy", mmap_mode="r")
        self._indices = np.load(directory / "rows.indices.npy", mmap_mode="r")
        self._indptr = np.load(directory / "rows.indptr.npy", mmap_mode="r")
        self._texts = np.memmap(directory / "texts.bin", dtype=np.uint8, mode="r")
        self._offsets = np.load(directory / "texts.offsets.npy", mmap_mode="r")
        self._row_page = np.load(directory / "rows.page.npy", mmap_mode="r")
        self._row_passage = np.load(directory / "rows.passage_idx.npy", mmap_mode="r")
        self._page_titles: list[str] = json.loads((directory / "pages.json").read_text())

    @property
    def n_passages(self) -> int:
        return int(self._indptr.shape[0] - 1)

    def passages(self, rows: np.ndarray) -> list[tuple[str, int, str]]:
        """(title, passage index, text) of the given rows."""
        out = []
        for row in np.asarray(rows, dtype=np.int64).tolist():
            start, end = int(self._offsets[row]), int(self._offsets[row + 1])
            text = self._texts[start:end].tobytes().decode()
            out.append((self._page_titles[self._row_page[row]], int(self._row_passage[row]), text))
        return out

    def candidate_rows(self, keys: list[str]) -> np.ndarray:
        spans = [self._spans[self.title_index[k]] for k in keys if k in self.title_index]
        ranges = [range(int(start), int(end)) for start, end in spans]
        return np.fromiter((r for span in ranges for r in span), dtype=np.int64) if ranges else np.empty(0, np.int64)

    def query_matrix(self, token_lists: list[list[str]]) -> sp.csr_matrix:
        rows, cols = [], []
        for i, tokens in enumerate(token_lists):
            ids = [self.vocab[t] for t in tokens if t in self.vocab]
            rows.extend([i] * len(ids))
            cols.extend(ids)
        data = np.ones(len(rows), dtype=np.float32)
        return sp.csr_matrix((data, (rows, cols)), shape=(len(token_lists), len(self.vocab)))

    def score(self, queries: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
        """BM25 scores (n_queries x len(rows)) of the given passages; bm25s's weights, summed per query term."""
        starts = np.asarray(self._indptr[rows])
        lengths = np.asarray(self._indptr[rows + 1]) - starts
        ends = np.cumsum(lengths)
        # Positions of the selected rows' entries in the big arrays, gathered without a Python loop.
        positions = np.repeat(starts - (ends - lengths), lengths) + np.arange(ends[-1] if len(ends) else 0)
        selected = sp.csr_matrix(
            (self._data[positions], self._indices[positions], np.concatenate(([0], ends))),
            shape=(len(rows), len(self.vocab)),
        )
        return (queries @ selected.T).toarray()
