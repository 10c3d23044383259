"""A segment scores as bm25s does, tokenizes queries as bm25s does, and still opens when written before string
tables."""

from __future__ import annotations

import json
from pathlib import Path

import bm25s
import numpy as np
import pytest
from bm25s.stopwords import STOPWORDS_EN

from knowrl.knowledge.segment import PageBatch, Segment, build_segment, query_tokens
from knowrl.knowledge.store import KnowledgeStore

PAGES = {
    "Mount Everest": [
        "Mount Everest is Earth's highest mountain above sea level.",
        "Climbers often use supplemental oxygen near the summit of Everest.",
    ],
    "Zebra": ["Zebras are African equines with black-and-white stripes.", "The zebra's stripes deter flies."],
    "Proxima Centauri": ["Proxima Centauri is a small red dwarf star.", "At least two planets orbit Proxima."],
    "Σίσυφος": ["Ο Σίσυφος ήταν βασιλιάς της Εφύρας.", "Über naïve café ΣΊΣΥΦΟΣ"],
}
QUERIES = [
    "highest mountain on Earth",
    "Zebra stripes stripes and flies",
    "the red dwarf star Proxima",
    "ΣΊΣΥΦΟΣ βασιλιάς über",
    "nothing known here qqq",
]


@pytest.fixture()
def segment_dir(tmp_path: Path) -> Path:
    out = tmp_path / "segment"
    build_segment(out, PageBatch(list(PAGES), list(PAGES.values())))
    return out


def test_query_tokens_are_bm25s_tokens_once_stopwords_are_dropped() -> None:
    texts = [*QUERIES, "Line one\nline two", "with a NUL\x00inside", "", "I don't know."]
    ours = [[t for t in tokens if t not in STOPWORDS_EN] for tokens in query_tokens(texts)]
    assert ours == bm25s.tokenize(texts, stopwords="en", return_ids=False, show_progress=False)


def test_scores_equal_bm25s_own_scores(segment_dir: Path) -> None:
    segment = Segment(segment_dir)
    retriever = bm25s.BM25.load(str(segment_dir / "bm25"))
    rows = np.arange(segment.n_passages)
    ours = segment.score(segment.query_matrix(query_tokens(QUERIES)), rows)
    for query, row in zip(QUERIES, ours, strict=True):
        tokens = [t for t in bm25s.tokenize([query], stopwords="en", return_ids=False)[0] if t in retriever.vocab_dict]
        expected = retriever.get_scores(tokens) if tokens else np.zeros(segment.n_passages)
        np.testing.assert_allclose(row, expected, rtol=1e-5, atol=1e-6)
    assert ours[-1].tolist() == [0.0] * segment.n_passages  # no known word: no score


def test_a_segment_written_before_string_tables_still_opens_and_searches_the_same(segment_dir: Path) -> None:
    store = KnowledgeStore([Segment(segment_dir)])
    scopes = [list(PAGES)] * len(QUERIES)
    before = store.search_batch(QUERIES, scopes, k=3)
    # What an older version wrote instead of the tables: JSON lists (bm25s's vocab.index.json is there anyway).
    table = Segment(segment_dir)
    keys = [table.title_index[i] for i in range(len(table.title_index))]
    titles = [table._page_titles[i] for i in range(len(table._page_titles))]
    for name in ("title_keys", "pages", "vocab"):
        for path in segment_dir.glob(f"{name}.*"):
            path.unlink()
    (segment_dir / "title_keys.json").write_text(json.dumps(keys))
    (segment_dir / "pages.json").write_text(json.dumps(titles))
    after = KnowledgeStore([Segment(segment_dir)]).search_batch(QUERIES, scopes, k=3)
    assert [(r.passages, r.scores) for r in after] == [(r.passages, r.scores) for r in before]
    assert before[0].passages[0].title == "Mount Everest" and before[3].passages[0].title == "Σίσυφος"
