"""Judge, extractor and verifier over an OpenAI-compatible endpoint (one ChatClient each)."""

from __future__ import annotations

from knowrl.config.backends import ExtractorConfig, JudgeConfig, VerifierConfig
from knowrl.judges.base import Grade, JudgeItem
from knowrl.judges.http_client import ChatClient
from knowrl.judges.prompts import (
    Template,
    extract_messages,
    extraction_template,
    grader_messages,
    grader_template,
    parse_facts,
    parse_grade,
    parse_support,
    verify_messages,
)
from storage.llm_cache import LLMCache


class OpenAIJudge:
    def __init__(self, cfg: JudgeConfig, cache: LLMCache | None, template: Template | None = None) -> None:
        self.client = ChatClient(cfg.endpoint, cache, max_tokens=cfg.max_tokens)
        self.stats = self.client.stats
        self.template = template or grader_template(cfg.prompt_file)

    def grade_many(self, items: list[JudgeItem]) -> list[Grade | None]:
        replies = self.client.complete_many([grader_messages(item, self.template) for item in items])
        return [parse_grade(r) for r in replies]


class OpenAIExtractor:
    def __init__(self, cfg: ExtractorConfig, cache: LLMCache | None) -> None:
        self.client = ChatClient(cfg.endpoint, cache, max_tokens=cfg.max_tokens)
        self.stats = self.client.stats
        self.max_facts = cfg.max_facts
        self.template = extraction_template(cfg.prompt_file)

    def extract_many(self, texts: list[str]) -> list[list[str] | None]:
        # One call per completion's whole reasoning, as the authors' extractor makes.
        replies = self.client.complete_many([extract_messages(t, self.template) for t in texts])
        return [parse_facts(r, self.max_facts) for r in replies]


class OpenAIVerifier:
    """An LLM reads all of a fact's passages at once (the authors' non-NLI path); 1.0 supported, 0.0 not."""

    def __init__(self, cfg: VerifierConfig, cache: LLMCache | None) -> None:
        self.client = ChatClient(cfg.endpoint, cache, max_tokens=16)
        self.stats = self.client.stats

    def entailment_many(self, pairs: list[tuple[str, list[str]]]) -> list[float | None]:
        replies = self.client.complete_many([verify_messages(f, p) for f, p in pairs])
        return [parse_support(r) for r in replies]
