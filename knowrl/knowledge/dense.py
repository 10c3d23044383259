"""Dense retrieval with a sentence-transformers model (the authors' default: gtr-t5-large), as the knowledge
store's second backend.

The model is loaded through the sentence-transformers library, so its own modules run as published: for
gtr-t5-large the T5 encoder only, mean pooling, the dense projection, then L2 normalisation. Passages are
embedded as "title text" (as the authors do) when the store is built, one array per segment saved in the
store artifact and memory-mapped when opened; queries are embedded at search time. Scores are cosine
similarities.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


class Embedder:
    def __init__(self, model: str | Path, batch_size: int = 64) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = SentenceTransformer(str(model), device=device)
        self.batch_size = batch_size

    @property
    def dimension(self) -> int:
        return int(self.model.get_sentence_embedding_dimension())

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def passage_input(title: str, text: str) -> str:
    """What a passage is embedded as: its page title, a space, its text (the authors' retriever input)."""
    return f"{title} {text}"


class DenseIndex:
    """Embeddings of every segment's passages (rows aligned with the segment) and the query encoder."""

    def __init__(self, embedder: Embedder, embeddings: list[np.ndarray]) -> None:
        self.embedder = embedder
        self.embeddings = embeddings

    @classmethod
    def open(cls, model: str | Path, files: list[Path]) -> DenseIndex:
        return cls(Embedder(model), [np.load(f, mmap_mode="r") for f in files])
