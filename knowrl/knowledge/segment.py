"""A segment: the BM25 index (bm25s) of a set of pages, persisted as memory-mappable arrays.

bm25s computes the BM25 weight of every (passage, term) pair and stores them column-wise (per term).
For title-scoped retrieval we also keep them row-wise (per passage): scoring a question's few dozen
candidate passages is then one small sparse product, without touching the other million passages.

Title keys, page titles and the vocabulary are string tables (`string_table.py`): memory-mapped, so opening a
segment parses nothing whatever its size. Segments written before string tables (JSON lists and bm25s's
vocab.index.json only) are still read: their tables are built in memory when opened.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import bm25s
import numpy as np
import scipy.sparse as sp

from knowrl.data.normalize import title_key
from knowrl.knowledge.string_table import StringTable

STOPWORDS = "en"
_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s.tokenize's default token pattern, which the index is built with


def query_tokens(texts: list[str]) -> list[list[str]]:
    """The tokens of each text as bm25s.tokenize (which built the index) splits it: lower case, `_TOKEN`.

    Stopwords stay in: they are in no segment's vocabulary (the index was built without them), so
    `query_matrix` drops them with the other unknown tokens. This costs a fraction of bm25s.tokenize (which
    rebuilds its stopword set for every text), and queries are tokenized on the path of every GRPO step."""
    # One lower() and one split for the whole batch; per text only when a text holds the separator.
    lines = "\x00".join(texts).lower().split("\x00")
    if len(lines) != len(texts):
        lines = [text.lower() for text in texts]
    return [_TOKEN.findall(line) for line in lines]


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
    StringTable.build(titles_in_order).save(out_dir, "pages")
    # Title key i owns the rows title_spans[i]; opening the store is on the path of a retried training step.
    StringTable.build(list(spans)).save(out_dir, "title_keys")
    np.save(out_dir / "title_spans.npy", np.array(list(spans.values()), dtype=np.int64).reshape(-1, 2))
    StringTable.build(_tokens_by_id(retriever.vocab_dict)).save(out_dir, "vocab")
    return {"pages": len(spans), "passages": len(texts)}


def _tokens_by_id(vocab: dict[str, int]) -> list[str]:
    tokens = sorted(vocab, key=vocab.__getitem__)
    if [vocab[t] for t in tokens] != list(range(len(tokens))):
        raise ValueError("the BM25 vocabulary's ids are not 0..n-1: cannot store it as a string table")
    return tokens


def _legacy_table(path: Path) -> StringTable:
    """A string table from a segment written before string tables: a JSON list, or bm25s's {token: id}."""
    loaded = json.loads(path.read_text())
    return StringTable.build(_tokens_by_id(loaded) if isinstance(loaded, dict) else loaded)


class Segment:
    """An opened segment: arrays are memory-mapped, so opening costs milliseconds, not a full load."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.title_index = StringTable.open(directory, "title_keys") or _legacy_table(directory / "title_keys.json")
        self._spans = np.load(directory / "title_spans.npy", mmap_mode="r")
        self.vocab = StringTable.open(directory, "vocab") or _legacy_table(directory / "bm25" / "vocab.index.json")
        # The raw CSR arrays, memory-mapped: wrapping them in a scipy matrix here would scan all of them.
        self._data = np.load(directory / "rows.data.npy", mmap_mode="r")
        self._indices = np.load(directory / "rows.indices.npy", mmap_mode="r")
        self._indptr = np.load(directory / "rows.indptr.npy", mmap_mode="r")
        # Sliced as a memoryview: a numpy slice of a memmap costs microseconds of Python object set-up.
        self._text_view = memoryview(np.memmap(directory / "texts.bin", dtype=np.uint8, mode="r"))
        self._offsets = np.load(directory / "texts.offsets.npy", mmap_mode="r")
        self._row_page = np.load(directory / "rows.page.npy", mmap_mode="r")
        self._row_passage = np.load(directory / "rows.passage_idx.npy", mmap_mode="r")
        self._page_titles = StringTable.open(directory, "pages") or _legacy_table(directory / "pages.json")

    @property
    def n_passages(self) -> int:
        return int(self._indptr.shape[0] - 1)

    def passages(self, rows: np.ndarray) -> list[tuple[str, int, str]]:
        """(title, passage index, text) of the given rows."""
        rows = np.asarray(rows, dtype=np.int64)
        starts, ends = np.asarray(self._offsets[rows]).tolist(), np.asarray(self._offsets[rows + 1]).tolist()
        titles = self._page_titles.strings(np.asarray(self._row_page[rows]))
        texts = self._text_view
        return [
            (title, index, str(texts[start:end], "utf-8"))
            for title, index, start, end in zip(
                titles, np.asarray(self._row_passage[rows]).tolist(), starts, ends, strict=True
            )
        ]

    def candidate_rows(self, keys: list[str]) -> np.ndarray:
        """The rows of the pages with these title keys (keys not in the segment are skipped), page by page."""
        numbers = self.title_index.lookup(keys)
        return self.title_rows(numbers[numbers >= 0])

    def title_rows(self, numbers: np.ndarray) -> np.ndarray:
        """The rows of the pages with these title numbers (positions in `title_index`), page by page."""
        spans = np.asarray(self._spans[numbers])
        if not len(spans):
            return np.empty(0, np.int64)
        return np.concatenate([np.arange(start, end, dtype=np.int64) for start, end in spans.tolist()])

    def query_matrix(self, token_lists: list[list[str]]) -> sp.csr_matrix:
        """One row per query: 1 per occurrence of each of its tokens in the vocabulary (a repeated token counts
        again, as in bm25s's own scoring)."""
        unique = list(set(chain.from_iterable(token_lists)))
        # Unverified: thousands of tokens a step; see string_table.py on what that can cost (nothing measurable).
        ids = dict(zip(unique, self.vocab.lookup(unique, verify=False).tolist(), strict=True))
        lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
        cols = np.fromiter(map(ids.__getitem__, chain.from_iterable(token_lists)), np.int64, int(lengths.sum()))
        rows = np.repeat(np.arange(len(token_lists)), lengths)
        known = cols >= 0  # tokens not in the vocabulary (stopwords among them) score nothing
        data = np.ones(int(known.sum()), dtype=np.float32)
        shape = (len(token_lists), len(self.vocab))
        return sp.csr_matrix((data, (rows[known], cols[known])), shape=shape)  # duplicates summed

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
