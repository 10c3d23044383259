"""Offline backends that need no model: answer matching, sentence splitting, lexical support."""

from __future__ import annotations

import re
from collections.abc import Callable

from knowrl.config.backends import ExtractorConfig, JudgeConfig, VerifierConfig
from knowrl.judges.answers import is_refusal, matches_gold, normalize_answer, numbers_in
from knowrl.judges.base import CallStats, Grade, JudgeItem
from knowrl.judges.pairwise import PairwiseVerifier
from knowrl.judges.prompts import MIN_FACT_WORDS

_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+|\n+")
_CLAUSE = re.compile(r";\s+|,\s+(?:and|but|while|whereas)\s+")
# Hedges and discourse markers in front of a claim: stripped, the claim is kept.
_HEDGE = re.compile(
    r"^(?:hmm|wait|okay|ok|so|well|i think|i believe|i recall|if i remember correctly|maybe|perhaps|probably|"
    r"possibly|i'm not sure,? but|i am not sure,? but|alternatively|but|actually|no(?=\s*,)|correction|"
    r"to be precise)\b[,: ]*",
    re.I,
)
# A sentence that corrects the previous claim.
_CORRECTION = re.compile(r"^(?:actually|wait|no(?=\s*,)|correction|to be precise|on second thought)\b", re.I)
# Plans, questions to oneself and remarks about the writer: no factual content.
_NON_FACTUAL = re.compile(
    r"\b(?:let me|let's|i need to|i should|i wonder|i'm not sure|i am not sure|i don't know|i do not know|"
    r"i have no|double-check|hmm)\b",
    re.I,
)
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
        self.exact = cfg.match == "exact"
        self.stats = CallStats()

    def _states(self, answer: str, gold: str) -> bool:
        if self.exact:  # the whole answer is the gold answer (normalised), or the same number
            return normalize_answer(answer) == normalize_answer(gold) or (
                bool(numbers_in(gold)) and numbers_in(answer) == numbers_in(gold) and len(answer.split()) <= 3
            )
        return matches_gold(answer, gold, self.tolerance)

    def grade(self, item: JudgeItem) -> Grade:
        if is_refusal(item.answer):
            return Grade.NOT_ATTEMPTED
        # A TruthfulQA answer that also states a known falsehood is not counted correct.
        states_gold = any(self._states(item.answer, g) for g in item.gold)
        if states_gold and not any(self._states(item.answer, w) for w in item.incorrect):
            return Grade.CORRECT
        return Grade.INCORRECT

    def grade_many(self, items: list[JudgeItem]) -> list[Grade | None]:
        self.stats.calls += len(items)
        return [self.grade(item) for item in items]


class RulesExtractor:
    """Atomic facts as sentences and clauses, by the extraction rules without a model: hedged claims are kept
    as plain claims, a self-correction replaces the claim before it, questions and plans give no fact, facts
    under 3 words are dropped, duplicates removed, and no cap unless `max_facts` is set."""

    def __init__(self, cfg: ExtractorConfig) -> None:
        self.max_facts = cfg.max_facts
        self.stats = CallStats()

    def extract(self, text: str) -> list[str]:
        facts: list[str] = []
        for sentence in _SENTENCE.split(text):
            corrects = bool(_CORRECTION.match(sentence.strip()))
            for number, clause in enumerate(_CLAUSE.split(sentence)):
                clause = clause.strip()
                while (stripped := _HEDGE.sub("", clause).strip(" ,")) != clause:
                    clause = stripped
                if _NON_FACTUAL.search(clause) or clause.endswith("?") or len(clause.split()) < MIN_FACT_WORDS:
                    continue
                if corrects and number == 0 and facts:
                    facts.pop()  # "Actually, ..." restates the previous claim: keep only the final version
                facts.append(clause[0].upper() + clause[1:])
        seen: set[str] = set()
        unique = [f for f in facts if not (f.lower() in seen or seen.add(f.lower()))]
        return unique[: self.max_facts] if self.max_facts else unique

    def extract_many(
        self, texts: list[str], on_facts: Callable[[int, list[str] | None], None] | None = None
    ) -> list[list[str] | None]:
        self.stats.calls += len(texts)
        facts: list[list[str] | None] = [self.extract(t) for t in texts]
        if on_facts is not None:
            for index, found in enumerate(facts):
                on_facts(index, found)
        return facts


def content_words(text: str) -> set[str]:
    return {w for w in (m.lower() for m in _WORD.findall(text)) if w not in _STOP}


class LexicalVerifier(PairwiseVerifier):
    """P(entailment) stand-in: the share of the fact's content words found in the passage, mapped so that
    `lexical_min_overlap` lands on the configured entailment threshold."""

    def __init__(self, cfg: VerifierConfig) -> None:
        self.min_overlap = cfg.lexical_min_overlap
        self.threshold = cfg.entailment_threshold
        self.stats = CallStats()

    def support(self, fact: str, passage: str) -> float:
        words = content_words(fact)
        if not words:
            return 0.0
        share = len(words & content_words(passage)) / len(words)
        if share >= self.min_overlap:
            return self.threshold + (1 - self.threshold) * (share - self.min_overlap) / max(1e-9, 1 - self.min_overlap)
        return self.threshold * share / max(1e-9, self.min_overlap)

    def score_pairs(self, pairs: list[tuple[str, str]]) -> list[float | None]:
        self.stats.calls += len(pairs)
        return [self.support(fact, passage) for passage, fact in pairs]
