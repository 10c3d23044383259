"""Hugging Face backends: an NLI sequence classifier as verifier, a causal LM as judge or extractor.

Models load once per backend; inputs go through in batches; results are cached in the warehouse like
HTTP replies, so re-scoring the same completions costs no forward pass.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from knowrl.config.backends import ExtractorConfig, JudgeConfig, VerifierConfig
from knowrl.judges.base import CallStats, Grade, JudgeItem
from knowrl.judges.prompts import extract_messages, grader_messages, parse_facts, parse_grade
from storage.llm_cache import LLMCache


def _key(backend: str, model: str, payload: Any) -> str:
    return hashlib.sha256(json.dumps([backend, model, payload], sort_keys=True).encode()).hexdigest()


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def entailment_index(id2label: dict[int, str]) -> int:
    """The entailment class of an MNLI-style model, from its config's labels."""
    for index, label in id2label.items():
        if str(label).lower().startswith("entail"):
            return int(index)
    raise ValueError(f"model labels {id2label} have no 'entailment' class; use an MNLI-style NLI model")


class NLIVerifier:
    backend = "nli"

    def __init__(self, cfg: VerifierConfig, cache: LLMCache | None, model_path: str | Path | None = None) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.name = str(model_path or cfg.nli_model)
        self.tokenizer = AutoTokenizer.from_pretrained(self.name)
        self.model = AutoModelForSequenceClassification.from_pretrained(self.name).to(_device()).eval()
        self.entail = entailment_index(self.model.config.id2label)
        self.batch_size = cfg.batch_size
        self.cache = cache
        self.stats = CallStats()
        self._torch = torch

    def _forward(self, pairs: list[tuple[str, str]]) -> list[float]:
        probs: list[float] = []
        for start in range(0, len(pairs), self.batch_size):
            chunk = pairs[start : start + self.batch_size]
            # Premise first, claim second; longest_first trims the (long) passages before the (short) fact.
            enc = self.tokenizer(
                [p for p, _ in chunk],
                [h for _, h in chunk],
                truncation="longest_first",
                padding=True,
                max_length=min(512, self.tokenizer.model_max_length),
                return_tensors="pt",
            ).to(self.model.device)
            with self._torch.inference_mode():
                logits = self.model(**enc).logits
            probs.extend(logits.float().softmax(-1)[:, self.entail].tolist())
            self.stats.calls += 1
        return probs

    def entailment_many(self, pairs: list[tuple[str, list[str]]]) -> list[float | None]:
        premises = [(" ".join(passages), fact) for fact, passages in pairs]
        keys = [_key(self.backend, self.name, p) for p in premises]
        cached = self.cache.get_many(sorted(set(keys))) if self.cache else {}
        self.stats.cache_hits += sum(k in cached for k in keys)
        todo = {k: p for k, p in zip(keys, premises, strict=True) if k not in cached}
        if todo:
            fresh = dict(zip(todo, self._forward(list(todo.values())), strict=True))
            if self.cache:
                self.cache.put_many(self.backend, self.name, {k: repr(v) for k, v in fresh.items()})
            cached.update({k: repr(v) for k, v in fresh.items()})
        return [float(cached[k]) for k in keys]


class _CausalLM:
    """Greedy chat generation with a local causal LM, cached by prompt."""

    backend = "hf"

    def __init__(self, model_name: str, cache: LLMCache | None, max_new_tokens: int) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.name = model_name
        self.tokenizer = AutoTokenizer.from_pretrained(model_name, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(model_name).to(_device()).eval()
        self.cache = cache
        self.max_new_tokens = max_new_tokens
        self.stats = CallStats()
        self._torch = torch

    def complete_many(self, conversations: list[list[dict[str, str]]], batch_size: int = 8) -> list[str | None]:
        keys = [_key(self.backend, self.name, c) for c in conversations]
        cached = self.cache.get_many(sorted(set(keys))) if self.cache else {}
        self.stats.cache_hits += sum(k in cached for k in keys)
        todo = {k: c for k, c in zip(keys, conversations, strict=True) if k not in cached}
        items = list(todo.items())
        fresh: dict[str, str] = {}
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            prompts = [
                self.tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for _, c in chunk
            ]
            enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(
                self.model.device
            )
            with self._torch.inference_mode():
                out = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False)
            texts = self.tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
            fresh.update({k: t for (k, _), t in zip(chunk, texts, strict=True)})
            self.stats.calls += 1
        if self.cache and fresh:
            self.cache.put_many(self.backend, self.name, fresh)
        cached.update(fresh)
        return [cached.get(k) for k in keys]


class HFJudge:
    def __init__(self, cfg: JudgeConfig, cache: LLMCache | None) -> None:
        if not cfg.hf_model:
            raise ValueError("judge.backend=hf needs judge.hf_model (a Hub id or local path of a chat model)")
        self.lm = _CausalLM(cfg.hf_model, cache, max_new_tokens=4)
        self.stats = self.lm.stats

    def grade_many(self, items: list[JudgeItem]) -> list[Grade | None]:
        return [parse_grade(r) for r in self.lm.complete_many([grader_messages(i) for i in items])]


class HFExtractor:
    def __init__(self, cfg: ExtractorConfig, cache: LLMCache | None) -> None:
        if not cfg.hf_model:
            raise ValueError("extractor.backend=hf needs extractor.hf_model (a Hub id or local path of a chat model)")
        self.lm = _CausalLM(cfg.hf_model, cache, max_new_tokens=256)
        self.stats = self.lm.stats
        self.max_facts = cfg.max_facts

    def extract_many(self, texts: list[str]) -> list[list[str] | None]:
        replies = self.lm.complete_many([extract_messages(t) for t in texts])
        return [parse_facts(r, self.max_facts) for r in replies]
