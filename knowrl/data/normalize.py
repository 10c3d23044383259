"""Text normalisation shared by validation, de-duplication and title matching."""

from __future__ import annotations

import re
import unicodedata

_SPACE = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^\w\s]", re.UNICODE)


def normalize_text(text: str, form: str = "NFKC", collapse_whitespace: bool = True) -> str:
    if form != "none":
        text = unicodedata.normalize(form, text)
    # Zero-width and control characters come from scraped sources and break matching.
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cf", "Cc") or ch in "\n\t")
    if collapse_whitespace:
        text = _SPACE.sub(" ", text)
    return text.strip()


def question_key(text: str, mode: str = "normalized") -> str:
    """The identity of a question for de-duplication.

    normalized: Unicode form, case and spacing do not matter; alphanumeric: punctuation does not either
    (it also catches "The Joker" vs "'The Joker'", two such pairs in the published RL set).
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    if mode == "alphanumeric":
        text = _NON_WORD.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def title_key(title: str) -> str:
    """A Wikipedia title's identity: case, underscores vs spaces, surrounding space and Unicode form ignored."""
    text = unicodedata.normalize("NFC", title).replace("_", " ")
    return _SPACE.sub(" ", text).strip().casefold()


def split_titles(value: str | list[str]) -> list[str]:
    """Titles from `a;b;c` (or a list), trimmed, de-duplicated by title key, order kept."""
    parts = value if isinstance(value, list) else str(value).split(";")
    seen: set[str] = set()
    titles = []
    for part in parts:
        title = _SPACE.sub(" ", str(part)).strip()
        key = title_key(title)
        if title and key not in seen:
            seen.add(key)
            titles.append(title)
    return titles
