"""The judge, the fact extractor and the LLM verifier over any chat transport (an endpoint or a local model,
knowrl/transport/): what to ask (a template, knowrl/judges/prompts.py) and how to read the reply; the transport
carries, caches and counts the calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from knowrl.judges.base import Grade, JudgeItem
from knowrl.judges.prompts import (
    Template,
    extract_messages,
    grader_messages,
    parse_facts,
    parse_grade,
    parse_support,
    verify_messages,
)
from knowrl.transport.stats import CallStats


class ChatTransport(Protocol):
    stats: CallStats

    def complete_many(
        self, conversations: list[list[dict[str, str]]], on_reply: Callable[[int, str | None], None] | None = None
    ) -> list[str | None]: ...

    def describe(self) -> str: ...


class LLMJudge:
    """Grades answers against gold targets with a grading template (A/B/C or the grade's word)."""

    def __init__(self, transport: ChatTransport, template: Template) -> None:
        self.transport, self.template = transport, template
        self.stats = transport.stats

    def describe(self) -> str:
        return self.transport.describe()

    def grade_many(self, items: list[JudgeItem]) -> list[Grade | None]:
        replies = self.transport.complete_many([grader_messages(item, self.template) for item in items])
        return [parse_grade(r) for r in replies]


class LLMExtractor:
    """Splits a text into atomic facts: one call per text (the authors' extractor makes one per completion's whole
    reasoning)."""

    def __init__(self, transport: ChatTransport, template: Template, max_facts: int | None) -> None:
        self.transport, self.template, self.max_facts = transport, template, max_facts
        self.stats = transport.stats

    def describe(self) -> str:
        return self.transport.describe()

    def extract_many(
        self, texts: list[str], on_facts: Callable[[int, list[str] | None], None] | None = None
    ) -> list[list[str] | None]:
        parsed: dict[int, list[str] | None] = {}

        def arrived(index: int, reply: str | None) -> None:  # on the transport's thread, as each reply comes in
            parsed[index] = parse_facts(reply, self.max_facts)
            if on_facts is not None:
                on_facts(index, parsed[index])

        replies = self.transport.complete_many([extract_messages(t, self.template) for t in texts], arrived)
        return [parsed[i] if i in parsed else parse_facts(r, self.max_facts) for i, r in enumerate(replies)]


class LLMVerifier:
    """An LLM reads all of a fact's passages at once (the authors' non-NLI path); 1.0 supported, 0.0 not."""

    def __init__(self, transport: ChatTransport) -> None:
        self.transport = transport
        self.stats = transport.stats

    def describe(self) -> str:
        return self.transport.describe()

    def entailment_many(self, pairs: list[tuple[str, list[str]]]) -> list[float | None]:
        replies = self.transport.complete_many([verify_messages(f, p) for f, p in pairs])
        return [parse_support(r) for r in replies]
