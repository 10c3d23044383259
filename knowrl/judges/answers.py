"""Answer normalisation, refusal detection and numeric comparison, shared by the rules judge and evaluation."""

from __future__ import annotations

import re
import string
import unicodedata

REFUSAL_PATTERNS = [
    r"\bi (?:do not|don't|dont) know\b",
    r"\bi(?: am|'m) not (?:sure|certain)\b",
    r"\bi cannot (?:answer|determine|say)\b",
    r"\bi can't (?:answer|determine|say)\b",
    r"^\W*unknown\W*$",  # the whole answer is "Unknown."
    r"\b(?:no idea|not sure)\b",
    r"我不知道|不清楚|无法确定",
]
_REFUSAL = re.compile("|".join(REFUSAL_PATTERNS), re.I | re.M)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.I)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_PUNCT = str.maketrans("", "", string.punctuation + "“”‘’。，！？、")


def is_refusal(answer: str) -> bool:
    return bool(_REFUSAL.search(answer.strip()))


def normalize_answer(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = text.translate(_PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def numbers_in(text: str) -> list[float]:
    values = []
    for match in _NUMBER.findall(text):
        try:
            values.append(float(match.replace(",", "")))
        except ValueError:
            continue
    return values


def matches_gold(answer: str, gold: str, numeric_tolerance: float) -> bool:
    """True when the answer states the gold answer: same normalised text, gold contained, or same number."""
    a, g = normalize_answer(answer), normalize_answer(gold)
    if not a or not g:
        return False
    if a == g or f" {g} " in f" {a} ":
        return True
    gold_numbers = numbers_in(gold)
    if gold_numbers and len(normalize_answer(_NUMBER.sub(" ", gold)).split()) <= 1:
        # A numeric gold ("8,849", "3.14 m") matches to its own precision: integers (years, counts) exactly,
        # decimals within the relative tolerance.
        target = gold_numbers[0]
        if target.is_integer() and "." not in gold:
            return target in numbers_in(answer)
        return any(abs(v - target) <= numeric_tolerance * max(1.0, abs(target)) for v in numbers_in(answer))
    return False
