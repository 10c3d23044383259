"""Parse `<think>...</think><answer>...</answer>` completions, strictly (format reward) or tolerantly (eval)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_STRICT = re.compile(r"^<think>(?P<think>.*?)</think>\s*<answer>(?P<answer>.*?)</answer>$", re.S)
_THINK = re.compile(r"<think>(.*?)(?:</think>|$)", re.S)
_ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.S)
_TAGS = ("<think>", "</think>", "<answer>", "</answer>")


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
    """The chat template may already open `<think>`; the method prepends it when the text lacks it."""
    stripped = text.lstrip()
    return stripped if stripped.startswith("<think>") else "<think>" + text


def is_well_formed(text: str) -> bool:
    """The format reward's rule (KNOWRL.md): think, non-empty reasoning, answer, non-empty answer, nothing after."""
    match = _STRICT.match(with_think_prefix(text).rstrip())
    if not match:
        return False
    think, answer = match["think"], match["answer"]
    if not think.strip() or not answer.strip():
        return False
    return not any(tag in think or tag in answer for tag in _TAGS)


@dataclass(frozen=True)
class ParsedCompletion:
    think: str | None
    answer: str | None
    status: str  # ok | missing_answer | unclosed_answer | unclosed_think | several_answers
    well_formed: bool


def parse_completion(text: str) -> ParsedCompletion:
    """Tolerant parse for rewards and evaluation: a missing closing tag is accepted and reported."""
    full = with_think_prefix(text)
    think_match = _THINK.search(full)
    think = think_match.group(1).strip() if think_match else None
    after_think = full[think_match.end() :] if think_match else full
    answers = _ANSWER.findall(after_think)
    status = "ok"
    if think_match and "</think>" not in full:
        status = "unclosed_think"
    if not answers:
        return ParsedCompletion(think, None, "missing_answer" if status == "ok" else status, False)
    answer = answers[-1].strip()
    if len(answers) > 1:
        status = "several_answers"
    elif "</answer>" not in after_think:
        status = "unclosed_answer"
    return ParsedCompletion(think, answer or None, status, is_well_formed(text))
