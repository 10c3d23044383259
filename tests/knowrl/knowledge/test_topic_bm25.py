"""ranking="per_topic" ranks as the KnowRL authors' retriever: rank_bm25's BM25Okapi per topic, bit for bit."""

from __future__ import annotations

import random

import numpy as np
import pytest

from knowrl.knowledge.topic_bm25 import TopicIndex, whitespace_tokens

rank_bm25 = pytest.importorskip("rank_bm25")


def texts(rng: random.Random, n: int, vocab: list[str]) -> list[str]:
    return [" ".join(rng.choices(vocab, k=rng.randint(3, 30))) for _ in range(n)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_and_order_equal_bm25okapi(seed: int) -> None:
    rng = random.Random(seed)
    vocab = [*(f"w{i}" for i in range(40)), "Word,", "word", "<s>x</s>"]
    passages = texts(rng, rng.randint(1, 60), vocab)
    queries = [*texts(rng, 25, [*vocab, "unseen"]), "", "unseen only"]
    theirs = rank_bm25.BM25Okapi([p.replace("<s>", "").replace("</s>", "").split() for p in passages])
    index = TopicIndex(passages)
    ours = index.scores(queries)
    order, top = index.top(queries, 5)
    for q, query in enumerate(queries):
        expected = theirs.get_scores(query.split())
        assert ours[q].tolist() == expected.tolist()  # the same floats, not merely close
        assert order[q].tolist() == np.argsort(-expected)[:5].tolist()
        assert top[q].tolist() == expected[order[q]].tolist()


def test_tokens_as_theirs() -> None:
    assert whitespace_tokens("<s>The  Cat,</s> sat") == ["The", "Cat,", "sat"]
