"""BM25 with per-topic statistics, ranked as the KnowRL authors' retriever ranks (`ranking="per_topic"`).

Their retriever (train/reward_function/FActScore/factscore/retrieval.py, `get_bm25_passages`) builds one rank_bm25
`BM25Okapi` per topic over that topic's passages only (whitespace tokens, case kept, punctuation attached, `<s>` and
`</s>` removed), scores `query.split()` and takes `np.argsort(-scores)[:k]`. Its statistics (document frequencies,
average length, the idf floor of `BM25Okapi`) are those of the topic's few dozen passages, not of the whole store, so
the same query ranks a topic's passages differently from our store's default ranking (bm25s over a whole segment:
lower-cased word tokens, stopwords removed, corpus-wide idf).

`TopicIndex` reproduces their scores bit for bit: the same idf (`log(N - n + 0.5) - log(n + 0.5)`, negative ones
replaced by `epsilon` times the average idf), the same per-term expression evaluated in the same order, and the
terms of a query added one after another in the query's order, so ties and near-ties order as theirs. Only the
columns a batch of queries uses are made dense, so a topic of thousands of passages costs no dense matrix.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

K1, B, EPSILON = 1.5, 0.75, 0.25  # rank_bm25.BM25Okapi's defaults, which their retriever uses


def whitespace_tokens(text: str) -> list[str]:
    """A passage's tokens as their retriever splits them (a query is only split: `query.split()`)."""
    return text.replace("<s>", "").replace("</s>", "").split()


class TopicIndex:
    """`BM25Okapi` over one topic's passages (in the order given: ties keep their order as in theirs)."""

    def __init__(self, texts: list[str]) -> None:
        vocab: dict[str, int] = {}  # in order of first occurrence: BM25Okapi sums idf in this order
        doc_freq: list[int] = []
        rows, cols, counts, lengths = [], [], [], []
        for row, text in enumerate(texts):
            tokens = whitespace_tokens(text)
            lengths.append(len(tokens))
            freqs: dict[str, int] = {}
            for token in tokens:
                freqs[token] = freqs.get(token, 0) + 1
            for token, count in freqs.items():
                column = vocab.setdefault(token, len(vocab))
                if column == len(doc_freq):
                    doc_freq.append(0)
                doc_freq[column] += 1
                rows.append(row)
                cols.append(column)
                counts.append(count)
        n_docs = len(texts)
        self.vocab = vocab
        self.n_docs = n_docs
        self.avgdl = sum(lengths) / n_docs if n_docs else 0.0
        idf = [math.log(n_docs - f + 0.5) - math.log(f + 0.5) for f in doc_freq]
        average = sum(idf) / len(idf) if idf else 0.0  # summed in vocabulary order, as theirs
        floor = EPSILON * average
        self.idf = np.array([floor if value < 0 else value for value in idf], dtype=np.float64)
        self.doc_len = np.array(lengths, dtype=np.float64)
        self.tf = sp.csc_matrix(
            (np.array(counts, dtype=np.float64), (np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64))),
            shape=(n_docs, len(vocab)),
        )

    def scores(self, queries: list[str]) -> np.ndarray:
        """BM25Okapi.get_scores of each query (n_queries x n_docs), equal to theirs to the last bit."""
        token_ids = [[self.vocab.get(t, -1) for t in q.split()] for q in queries]  # theirs: query.split()
        used = sorted({i for ids in token_ids for i in ids if i >= 0})
        out = np.zeros((len(queries), self.n_docs), dtype=np.float64)
        if not used or not self.n_docs or not self.avgdl:
            return out
        local = {column: j for j, column in enumerate(used)}
        tf = self.tf[:, used].toarray()
        # Their expression, operation by operation: idf * (f * (k1 + 1) / (f + k1 * (1 - b + b * dl / avgdl))),
        # where `b * dl / avgdl` is (b * dl) / avgdl and an unknown term adds 0.
        norm = (1 - B) + (B * self.doc_len) / self.avgdl
        weights = self.idf[used] * (tf * (K1 + 1) / (tf + K1 * norm[:, None]))  # n_docs x len(used)
        width = max(map(len, token_ids), default=0)
        padded = np.full((len(queries), width), -1, dtype=np.int64)
        for q, ids in enumerate(token_ids):
            padded[q, : len(ids)] = [local.get(i, -1) for i in ids]
        for position in range(width):  # one query term after another, as their loop adds them
            column = padded[:, position]
            present = np.flatnonzero(column >= 0)
            if len(present):
                out[present] += weights[:, column[present]].T
        return out

    def top(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(order, scores) of the best k passages per query: np.argsort(-scores)[:k] row by row, as theirs."""
        scores = self.scores(queries)
        order = np.argsort(-scores, axis=1)[:, : min(k, self.n_docs)]
        return order, np.take_along_axis(scores, order, axis=1)
