"""Read a completion the way the method does: the format rule, the answer the judge grades, the reasoning
whose facts are checked (rewards), and the final answer an evaluation grades (any model, tagged or not).

The reward rules follow the authors' reward code (zjunlp/KnowRL, train/reward_function/); golden cases
produced by running their functions are in tests/knowrl/rewards/golden_rewards.json.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE = "<think>", "</think>", "<answer>", "</answer>"

# One part of the format: a non-space first character, then anything that does not open a <think> or an
# <answer> (closing tags are allowed inside, as in the authors' regex), then optional space.
_PART = r"\s*(\S(?:(?!<think>|<answer>).)*?)\s*"
_FORMAT = re.compile(rf"<think>{_PART}</think>\s*<answer>{_PART}</answer>", re.S)
_FIRST_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)
_FIRST_THINK = re.compile(r"<think>(.*?)</think>", re.S)


def completion_text(completion: Any) -> str:
    """TRL passes completions as strings or as chat messages [{"role": "assistant", "content": ...}]."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    raise TypeError(f"completion must be a string or a list of chat messages, got {type(completion).__name__}")


def with_think_prefix(text: str) -> str:
    """The chat template may already have opened `<think>`: the format rule prepends it when missing."""
    return text if text.startswith(THINK_OPEN) else THINK_OPEN + text


def is_well_formed(text: str) -> bool:
    """The format reward's rule: <think>, non-empty reasoning, </think>, <answer>, non-empty answer, </answer>,
    only whitespace between the parts, no <think>/<answer> opened inside either part, nothing after the end.

    As in the authors' `^...$` (Python's `$` also matches before one final newline), a single trailing newline
    is accepted and anything more is not.
    """
    full = with_think_prefix(text)
    body = full[:-1] if full.endswith("\n") else full
    return _FORMAT.fullmatch(body) is not None


@dataclass(frozen=True)
class RewardView:
    """What the rewards read from one completion."""

    well_formed: bool
    answer: str | None  # the stripped text of the first closed <answer> block; None when missing or empty
    answer_status: str  # ok | missing | empty
    fact_text: str  # the reasoning whose facts the factuality reward checks


def reasoning_text(text: str) -> str:
    """The reasoning of a completion: the first <think>...</think> block, else the whole completion (stripped).

    Deliberate difference from the authors' code: when the completion never opens <think> (the chat template
    did) but closes it, the reasoning is the text before the first </think>; their regex would fall back to the
    whole completion and extract "facts" from the answer block too.
    """
    match = _FIRST_THINK.search(text)
    if match:
        return match.group(1).strip()
    if THINK_OPEN not in text and THINK_CLOSE in text:
        return text.split(THINK_CLOSE, 1)[0].strip()
    return text.strip()


def reward_view(text: str) -> RewardView:
    """The authors' rules: the judge grades the first closed answer block; a missing or empty one scores -1."""
    match = _FIRST_ANSWER.search(text)
    if match is None:
        answer, status = None, "missing"
    else:
        stripped = match.group(1).strip()
        answer, status = (stripped, "ok") if stripped else (None, "empty")
    return RewardView(is_well_formed(text), answer, status, reasoning_text(text))


@dataclass(frozen=True)
class FinalAnswer:
    """What an evaluation grades: the answer tag's text when the model used the format, else its final text."""

    answer: str | None  # None only when the output holds no text to grade
    followed_format: bool  # the output passes the format rule
    source: str  # answer_tag | after_think | whole_output | empty


def final_answer(text: str) -> FinalAnswer:
    """A model that uses the answer tags is graded on the tag's text; any other model (every base model) on the
    text after its last </think>, or on its whole output when it has none. A missing tag is not a refusal.
    """
    well_formed = is_well_formed(text)
    tagged = _FIRST_ANSWER.search(text)
    if tagged and tagged.group(1).strip():
        return FinalAnswer(tagged.group(1).strip(), well_formed, "answer_tag")
    if THINK_CLOSE in text:
        after = text.rsplit(THINK_CLOSE, 1)[1]
        after = after.replace(ANSWER_OPEN, "").replace(ANSWER_CLOSE, "").strip()
        return FinalAnswer(after or None, well_formed, "after_think" if after else "empty")
    whole = text.replace(ANSWER_OPEN, "").replace(ANSWER_CLOSE, "").strip()
    return FinalAnswer(whole or None, well_formed, "whole_output" if whole else "empty")


# RLCR's confidence tag (Damani et al., arXiv 2507.16806): `<confidence>q</confidence>` after the answer, the last
# thing in the output. With the calibration reward on, the format rule accepts it after </answer>.
CONFIDENCE_OPEN, CONFIDENCE_CLOSE = "<confidence>", "</confidence>"
_TRAILING_CONFIDENCE = re.compile(r"\s*<confidence>[^<]*</confidence>\s*\Z")
_CONFIDENCE_AFTER_ANSWER = re.compile(r"</answer>.*<confidence>(.*?)</confidence>", re.S)
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")


def is_well_formed_with_confidence(text: str) -> bool:
    """The format rule, with one `<confidence>...</confidence>` accepted right after `</answer>` (whitespace between)
    as the last thing in the output. The tag is optional: a missing confidence is the calibration reward's business
    (q = 0.5, counted)."""
    tag = _TRAILING_CONFIDENCE.search(text)
    return is_well_formed(text if tag is None else text[: tag.start()])


@dataclass(frozen=True)
class StatedConfidence:
    """The confidence a completion states: q in [0, 1], and whether it was stated and readable."""

    value: float
    stated: bool  # False: absent or unparseable, value is the default 0.5


DEFAULT_CONFIDENCE = 0.5


def stated_confidence(text: str) -> StatedConfidence:
    """q from the last `<confidence>` tag after `</answer>`: a number in [0, 1] ("0.8"), or a
    percentage ("80%"). Absent, misplaced, empty, out of range or not a number: q = 0.5, not stated."""
    match = _CONFIDENCE_AFTER_ANSWER.search(text)
    if match is None:
        return StatedConfidence(DEFAULT_CONFIDENCE, False)
    raw = match.group(1).strip()
    percent = _PERCENT.fullmatch(raw)
    try:
        value = float(percent.group(1)) / 100 if percent else float(raw)
    except ValueError:
        return StatedConfidence(DEFAULT_CONFIDENCE, False)
    if not 0.0 <= value <= 1.0:  # also NaN
        return StatedConfidence(DEFAULT_CONFIDENCE, False)
    return StatedConfidence(value, True)
