"""Split a page into passages of at most N tokens, keeping paragraph and sentence boundaries where possible.

Tokens are counted as whitespace-separated words: cheap, tokenizer-independent, and close to the
paper's 256-token passages for English text.
"""

from __future__ import annotations

import re

KNOWRL_SEPARATOR = "####SPECIAL####SEPARATOR####"
_PARAGRAPHS = re.compile(r"\n\s*\n")
_SENTENCES = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def _sentence_units(paragraph: str, max_tokens: int) -> list[list[str]]:
    units = []
    for sentence in _SENTENCES.split(paragraph.strip()):
        words = sentence.split()
        # A sentence longer than a passage is cut into word windows: rare, and it must still fit.
        for start in range(0, len(words), max_tokens):
            if words[start : start + max_tokens]:
                units.append(words[start : start + max_tokens])
    return units


def split_passages(text: str, max_tokens: int) -> list[str]:
    passages: list[str] = []
    for paragraph in _PARAGRAPHS.split(text):
        current: list[str] = []
        for unit in _sentence_units(paragraph, max_tokens):
            if current and len(current) + len(unit) > max_tokens:
                passages.append(" ".join(current))
                current = []
            current.extend(unit)
        if current:
            passages.append(" ".join(current))
    return passages


def knowrl_passages(text: str) -> list[str]:
    """The KnowRL knowledge base's own passages, kept as they are (only empty ones dropped)."""
    return [p.strip() for p in text.split(KNOWRL_SEPARATOR) if p.strip()]
