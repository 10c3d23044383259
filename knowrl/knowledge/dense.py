"""Dense retrieval: any Hugging Face encoder (mean-pooled, L2-normalised) as the knowledge store's second backend.

Passage embeddings are computed when the store is built and saved in the store artifact (one array per
segment, memory-mapped when opened); queries are embedded at search time. Scores are cosine similarities.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


class Embedder:
    def __init__(self, model: str | Path, batch_size: int = 64, max_length: int = 256) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModel.from_pretrained(model).eval()
        if torch.cuda.is_available():
            self.model = self.model.to("cuda")
        self.batch_size = batch_size
        self.max_length = max_length
        self._torch = torch

    def encode(self, texts: list[str]) -> np.ndarray:
        chunks = []
        for start in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(
                texts[start : start + self.batch_size],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(self.model.device)
            with self._torch.inference_mode():
                hidden = self.model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            chunks.append(self._torch.nn.functional.normalize(pooled.float(), dim=-1).cpu().numpy())
        return np.concatenate(chunks) if chunks else np.zeros((0, 1), np.float32)


class DenseIndex:
    """Embeddings of every segment's passages (rows aligned with the segment) and the query encoder."""

    def __init__(self, embedder: Embedder, embeddings: list[np.ndarray]) -> None:
        self.embedder = embedder
        self.embeddings = embeddings

    @classmethod
    def open(cls, model: str | Path, files: list[Path]) -> DenseIndex:
        return cls(Embedder(model), [np.load(f, mmap_mode="r") for f in files])
