"""Hugging Face backends: an NLI sequence classifier as verifier, a causal LM as judge or extractor.

Models load once per backend; inputs go through in batches; results are cached in the warehouse like
HTTP replies, so re-scoring the same completions costs no forward pass.
"""

from __future__ import annotations

from pathlib import Path

from knowrl.config.backends import ExtractorConfig, JudgeConfig, VerifierConfig
from knowrl.judges.base import CallStats, Grade, JudgeItem
from knowrl.judges.cached import cached_many
from knowrl.judges.pairwise import PairwiseVerifier
from knowrl.judges.prompts import (
    Template,
    extract_messages,
    extraction_template,
    grader_messages,
    grader_template,
    parse_facts,
    parse_grade,
)
from knowrl.models.generation import chat_prompts, generate_batched, load_causal_lm
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

    def _forward(self, pairs: list[list[str]]) -> list[str | None]:
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
            probs.extend(repr(p) for p in logits.float().softmax(-1)[:, self.entail].tolist())
            self.stats.calls += 1
        return probs

    def score_pairs(self, pairs: list[tuple[str, str]]) -> list[float | None]:
        payloads = [[premise, fact] for premise, fact in pairs]
        replies = cached_many(self.cache, self.backend, self.name, payloads, self._forward, self.stats)
        return [None if r is None else float(r) for r in replies]


class CausalLMBackend:
    """Greedy chat generation with a local causal LM, cached by prompt."""

    backend = "hf"

    def __init__(self, model_name: str, cache: LLMCache | None, max_new_tokens: int, batch_size: int = 8) -> None:
        self.name = model_name
        self.model, self.tokenizer = load_causal_lm(model_name)
        self.cache = cache
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.stats = CallStats()

    def _generate(self, conversations: list[list[dict[str, str]]]) -> list[str | None]:
        prompts = chat_prompts(self.tokenizer, conversations)
        self.stats.calls += len(prompts)
        return list(generate_batched(self.model, self.tokenizer, prompts, self.max_new_tokens, self.batch_size))

    def complete_many(self, conversations: list[list[dict[str, str]]]) -> list[str | None]:
        return cached_many(self.cache, self.backend, self.name, conversations, self._generate, self.stats)


class HFJudge:
    def __init__(self, cfg: JudgeConfig, cache: LLMCache | None, template: Template | None = None) -> None:
        if not cfg.hf_model:
            raise ValueError("judge.backend=hf needs judge.hf_model (a Hub id or local path of a chat model)")
        self.lm = CausalLMBackend(cfg.hf_model, cache, max_new_tokens=cfg.max_tokens)
        self.stats = self.lm.stats
        self.template = template or grader_template(cfg.prompt_file)

    def grade_many(self, items: list[JudgeItem]) -> list[Grade | None]:
        return [parse_grade(r) for r in self.lm.complete_many([grader_messages(i, self.template) for i in items])]


class HFExtractor:
    def __init__(self, cfg: ExtractorConfig, cache: LLMCache | None) -> None:
        if not cfg.hf_model:
            raise ValueError("extractor.backend=hf needs extractor.hf_model (a Hub id or local path of a chat model)")
        self.lm = CausalLMBackend(cfg.hf_model, cache, max_new_tokens=cfg.max_tokens)
        self.stats = self.lm.stats
        self.max_facts = cfg.max_facts
        self.template = extraction_template(cfg.prompt_file)

    def extract_many(self, texts: list[str]) -> list[list[str] | None]:
        replies = self.lm.complete_many([extract_messages(t, self.template) for t in texts])
        return [parse_facts(r, self.max_facts) for r in replies]
