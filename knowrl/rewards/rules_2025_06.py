"""The reward details of the authors' June 2025 code (zjunlp/KnowRL at the paper's release, the version that
produced the published model), where they differ from v1.0.0 onwards:

- before any judge call, an answer that declines (one of the refusal phrasings below) scores -1, and so does an
  answer that shares no keyword with the gold answer, unless the gold answer holds a digit (numbers go to the judge);
- a judged "not attempted" (C) scores -1, as incorrect does (v1.0.0 onwards: +1, the refusal reward);
- factuality counts supported facts: min(supported / 15, 1), with no length penalty and no division by the number
  of facts (v1.0.0 onwards: supported / facts x the length penalty).

`combined` is the same formula in both: -1 + factuality whenever correctness is -1. So in June 2025 "I don't know."
earned -1 + factuality, like a wrong answer (it matches no refusal phrasing here: the judge grades it C).
"""

from __future__ import annotations

import re

VERSION = "2025-06"
FACTS_FOR_FULL_SCORE = 15

_HELP_VERBS = r"(?:answer|respond|provide|give|tell|assist|help)"
_DECLINES = [
    rf"\b(?:I cannot|I can't|I am unable to|cannot|can't|unable to)\s+{_HELP_VERBS}\b",
    r"\b(?:I must|I have to|I will have to|I need to)\b.*?\b(?:decline|refuse|refrain from|abstain from)\b"
    r"\s+(?:answering|responding|providing|giving)\b",
    r"\b(?:as an AI|as a language model|as an assistant),?\s+I\s+"
    r"(?:cannot|can't|am unable to|must decline|am not able to|don't have|won't)\b",
    r"\b(?:ethical|moral|legal)\b.*?\b(?:concerns|issues|considerations|limitations|constraints)\b.*?"
    r"\b(?:prevent|stop|preclude|prohibit|disallow)\b",
    r"\b(?:would need more|need more|require more|need additional|require additional)\s+"
    r"(?:information|details|context|specifics|clarification)\s+to\s+(?:answer|respond|provide|help|assist)\b",
    rf"\b(?:insufficient information|lack of information|lack of context|lack of details|not enough information|"
    rf"not enough context|too vague)\s+to\s+{_HELP_VERBS}\b",
    r"\b(?:more|additional) (?:information|context|details)\s+would be\s+(?:needed|required|necessary)\b",
]
# Case-insensitive, and `.` stops at a line break (no DOTALL), as theirs.
_DECLINE = re.compile("|".join(f"(?:{p})" for p in _DECLINES), re.IGNORECASE)
STOP_WORDS = frozenset(
    [
        "the",
        "a",
        "an",
        "and",
        "or",
        "but",
        "is",
        "are",
        "was",
        "were",
        "in",
        "on",
        "at",
        "to",
        "for",
        "with",
        "by",
        "about",
        "like",
        "from",
        "of",
        "that",
        "this",
        "these",
        "those",
        "it",
        "they",
        "he",
        "she",
        "we",
        "you",
        "i",
        "me",
        "my",
        "your",
        "our",
        "their",
    ]
)


def declines(answer: str) -> bool:
    """An answer in one of the decline phrasings (or an empty one)."""
    return not answer.strip() or bool(_DECLINE.search(answer))


def has_digit(gold: str) -> bool:
    return any(ch.isdigit() for ch in gold)


def shares_a_keyword(answer: str, gold: str) -> bool:
    """Whether a word of the gold answer (no stop word, longer than one character) occurs in the answer, as a
    substring of its lower-cased text."""
    lowered = answer.lower()
    words = {w.lower() for w in re.findall(r"\w+", gold) if w.lower() not in STOP_WORDS and len(w) > 1}
    return any(word in lowered for word in words)


def prefilter_score(answer: str, gold: str) -> float | None:
    """-1 when the answer is settled without the judge (declines, or no keyword of a non-numeric gold answer);
    None when the judge grades it."""
    if declines(answer):
        return -1.0
    if has_digit(gold):
        return None
    return None if shares_a_keyword(answer, gold) else -1.0


def factuality_count_score(supported: list[bool]) -> float:
    """min(supported facts / 15, 1)."""
    return min(sum(supported) / FACTS_FOR_FULL_SCORE, 1.0)
