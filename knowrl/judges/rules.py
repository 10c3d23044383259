"""Offline backends that need no model: answer matching, sentence splitting, lexical support."""

from __future__ import annotations

import re

from knowrl.config.backends import ExtractorConfig, JudgeConfig, VerifierConfig
from knowrl.judges.answers import is_refusal, matches_gold
from knowrl.judges.base import CallStats, Grade, JudgeItem

_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+|\n+")
_CLAUSE = re.compile(r";\s+|,\s+(?:and|but|while|whereas)\s+")
_HEDGE = re.compile(
    r"^(?:hmm|wait|okay|ok|so|well|let me|let's|i think|i need|i should|i recall|maybe|perhaps|probably|"
    r"i'm not sure|i am not sure|not sure|alternatively|but wait|actually)\b[, ]*",
    re.I,
)
_DROP = re.compile(r"\b(?:maybe|perhaps|might|not sure|i wonder|let me|i need to|i should|double-check|hmm)\b", re.I)
_WORD = re.compile(r"\w+", re.U)
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "by",
        "with",
        "from",
        "and",
        "or",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "it",
        "its",
        "this",
        "that",
        "as",
        "which",
        "who",
        "what",
        "when",
        "where",
        "why",
        "how",
    ]
)


class RulesJudge:
    """Grades by matching the answer against every gold alias; refusal phrases mean not attempted."""

    def __init__(self, cfg: JudgeConfig) -> None:
        self.tolerance = cfg.numeric_tolerance
        self.stats = CallStats()

    def grade(self, item: JudgeItem) -> Grade:
        if is_refusal(item.answer):
            return Grade.NOT_ATTEMPTED
        # A TruthfulQA answer that also states a known falsehood is not counted correct.
        states_gold = any(matches_gold(item.answer, g, self.tolerance) for g in item.gold)
        if states_gold and not any(matches_gold(item.answer, w, self.tolerance) for w in item.incorrect):
            return Grade.CORRECT
        return Grade.INCORRECT

    def grade_many(self, items: list[JudgeItem]) -> list[Grade | None]:
        self.stats.calls += len(items)
        return [self.grade(item) for item in items]


class RulesExtractor:
    """Atomic facts as sentences and clauses, dropping hedges, questions and self-talk."""

    def __init__(self, cfg: ExtractorConfig) -> None:
        self.max_facts = cfg.max_facts
        self.stats = CallStats()

    def extract(self, text: str) -> list[str]:
        facts = []
        for sentence in _SENTENCE.split(text):
            for clause in _CLAUSE.split(sentence):
                clause = clause.strip()
                if _DROP.search(clause):
                    continue
                while (stripped := _HEDGE.sub("", clause).strip(" ,")) != clause:
                    clause = stripped
                if len(_WORD.findall(clause)) < 3 or clause.endswith("?"):
                    continue
                facts.append(clause[0].upper() + clause[1:])
        return facts[: self.max_facts]

    def extract_many(self, texts: list[str]) -> list[list[str] | None]:
        self.stats.calls += len(texts)
        return [self.extract(t) for t in texts]


def content_words(text: str) -> set[str]:
    return {w for w in (m.lower() for m in _WORD.findall(text)) if w not in _STOP}


class LexicalVerifier:
    """P(entailment) stand-in: the share of the fact's content words found in its best passage."""

    def __init__(self, cfg: VerifierConfig) -> None:
        self.min_overlap = cfg.lexical_min_overlap
        self.stats = CallStats()

    def support(self, fact: str, passages: list[str]) -> float:
        words = content_words(fact)
        if not words or not passages:
            return 0.0
        best = max(len(words & content_words(p)) / len(words) for p in passages)
        # Map overlap onto [0, 1] so that min_overlap lands on the method's 0.3 entailment threshold.
        if best >= self.min_overlap:
            return 0.3 + 0.7 * (best - self.min_overlap) / max(1e-9, 1 - self.min_overlap)
        return 0.3 * best / max(1e-9, self.min_overlap)

    def entailment_many(self, pairs: list[tuple[str, list[str]]]) -> list[float | None]:
        self.stats.calls += len(pairs)
        return [self.support(fact, passages) for fact, passages in pairs]
