"""Judge, extractor and verifier over an OpenAI-compatible endpoint (one ChatClient each)."""

from __future__ import annotations

from knowrl.config.backends import ExtractorConfig, JudgeConfig, VerifierConfig
from knowrl.judges.base import Grade, JudgeItem
from knowrl.judges.http_client import ChatClient
from knowrl.judges.prompts import (
    extract_messages,
    grader_messages,
    parse_facts,
    parse_grade,
    parse_support,
    verify_messages,
)
from storage.llm_cache import LLMCache


class OpenAIJudge:
    def __init__(self, cfg: JudgeConfig, cache: LLMCache | None) -> None:
        self.client = ChatClient(cfg.endpoint, cache)
        self.stats = self.client.stats

    def grade_many(self, items: list[JudgeItem]) -> list[Grade | None]:
        replies = self.client.complete_many([grader_messages(item) for item in items])
        return [parse_grade(r) for r in replies]


class OpenAIExtractor:
    def __init__(self, cfg: ExtractorConfig, cache: LLMCache | None) -> None:
        self.client = ChatClient(cfg.endpoint, cache)
        self.stats = self.client.stats
        self.max_facts = cfg.max_facts

    def extract_many(self, texts: list[str]) -> list[list[str] | None]:
        # One call per completion's whole reasoning (the reference makes one per paragraph).
        replies = self.client.complete_many([extract_messages(t) for t in texts])
        return [parse_facts(r, self.max_facts) for r in replies]


class OpenAIVerifier:
    def __init__(self, cfg: VerifierConfig, cache: LLMCache | None) -> None:
        self.client = ChatClient(cfg.endpoint, cache)
        self.stats = self.client.stats

    def entailment_many(self, pairs: list[tuple[str, list[str]]]) -> list[float | None]:
        replies = self.client.complete_many([verify_messages(f, p) for f, p in pairs])
        return [parse_support(r) for r in replies]
