"""The NLI verifier: an MNLI-style sequence classifier (the paper's DeBERTa), P(entailment) of each (passage, fact)
pair. The model loads once; pairs go through in batches; results are cached in the warehouse like endpoint replies,
so re-scoring the same completions costs no forward pass."""

from __future__ import annotations

from pathlib import Path

from knowrl.config.backends import VerifierConfig
from knowrl.judges.pairwise import PairwiseVerifier
from knowrl.transport.cache import cached_many
from knowrl.transport.stats import CallStats
from storage.llm_cache import LLMCache

NLI_MAX_LENGTH = 512  # as the authors' verifier: premise and hypothesis truncated together to 512 tokens


def entailment_index(id2label: dict[int, str]) -> int:
    """The entailment class of an MNLI-style model, from its config's labels."""
    for index, label in id2label.items():
        if str(label).lower().startswith("entail"):
            return int(index)
    raise ValueError(f"model labels {id2label} have no 'entailment' class; use an MNLI-style NLI model")


class NLIVerifier(PairwiseVerifier):
    """P(entailment) of each (passage, fact) pair: premise = one retrieved passage, hypothesis = the fact."""

    backend = "nli"

    def __init__(self, cfg: VerifierConfig, cache: LLMCache | None, model_path: str | Path | None = None) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.name = str(model_path or cfg.nli_model)
        self.tokenizer = AutoTokenizer.from_pretrained(self.name)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = AutoModelForSequenceClassification.from_pretrained(self.name).to(device).eval()
        self.entail = entailment_index(self.model.config.id2label)
        self.batch_size = cfg.batch_size
        self.threshold = cfg.entailment_threshold
        self.cache = cache
        self.stats = CallStats()
        self._torch = torch

    def describe(self) -> str:
        return f"NLI model {self.name}"

    def _forward(self, pairs: list[list[str]]) -> list[str | None]:
        return self.class_probabilities(pairs, self.entail, self.stats)

    def class_probabilities(self, pairs: list[list[str]], index: int, stats: CallStats) -> list[str | None]:
        """P(class `index`) of each (premise, hypothesis) pair, in batches (as text, the cache's reply format); one
        call counted in `stats` per batch. The entailment check and binary_rar's contradiction check both read it."""
        probs: list[str | None] = []
        for start in range(0, len(pairs), self.batch_size):
            chunk = pairs[start : start + self.batch_size]
            enc = self.tokenizer(
                [premise for premise, _ in chunk],
                [fact for _, fact in chunk],
                truncation=True,
                padding=True,
                max_length=min(NLI_MAX_LENGTH, self.tokenizer.model_max_length),
                return_tensors="pt",
            ).to(self.model.device)
            with self._torch.inference_mode():
                logits = self.model(**enc).logits
            probs.extend(repr(p) for p in logits.float().softmax(-1)[:, index].tolist())
            stats.calls += 1
        return probs

    def score_pairs(self, pairs: list[tuple[str, str]]) -> list[float | None]:
        payloads = [[premise, fact] for premise, fact in pairs]
        replies = cached_many(self.cache, self.backend, self.name, payloads, self._forward, self.stats)
        return [None if r is None else float(r) for r in replies]
