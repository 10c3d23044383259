"""Our prompts for LLM-backed judging, fact extraction and verification, and parsers of their replies."""

from __future__ import annotations

import re

from knowrl.judges.base import Grade, JudgeItem

GRADER_TEMPLATE = """You grade answers to factual questions. Compare the predicted answer with the gold target(s).

Reply with one letter:
A: CORRECT - the predicted answer states the gold target (any listed alias) without contradicting it. Extra
   detail, different wording, or omitted middle names are fine; a hedged answer that commits to the target is fine.
B: INCORRECT - the predicted answer states something that contradicts the gold target, or commits to another answer,
   or lists several candidate answers one of which is wrong.
C: NOT_ATTEMPTED - the predicted answer does not commit to any answer (e.g. "I don't know", "I cannot tell").

Numbers must match to the precision of the gold target. Do not use knowledge beyond the gold target.

Question: {question}
Gold target(s): {gold}
{incorrect}Predicted answer: {answer}

Reply with only the letter A, B or C."""

EXTRACT_TEMPLATE = """Break the reasoning below into independent atomic facts: short declarative statements, each
checkable on its own, with pronouns replaced by what they refer to. Leave out questions, plans, hedges and
statements about the speaker ("I think", "let me check"). Write one fact per line starting with "- ".
If there is no factual statement, write "- NONE".

Reasoning:
{text}"""

VERIFY_TEMPLATE = """Premise passages:
{passages}

Claim: {fact}

Is the claim supported by the premise passages? Reply with SUPPORTED or NOT_SUPPORTED only."""

_LETTER = re.compile(r"\b([ABC])\b")


def grader_messages(item: JudgeItem) -> list[dict[str, str]]:
    incorrect = f"Known incorrect answers: {' | '.join(item.incorrect)}\n" if item.incorrect else ""
    content = GRADER_TEMPLATE.format(
        question=item.question, gold=" | ".join(item.gold), incorrect=incorrect, answer=item.answer
    )
    return [{"role": "user", "content": content}]


def parse_grade(reply: str | None) -> Grade | None:
    if reply is None:
        return None
    match = _LETTER.search(reply.strip().upper())
    if not match:
        return None
    return {"A": Grade.CORRECT, "B": Grade.INCORRECT, "C": Grade.NOT_ATTEMPTED}[match.group(1)]


def extract_messages(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": EXTRACT_TEMPLATE.format(text=text)}]


def parse_facts(reply: str | None, max_facts: int) -> list[str] | None:
    if reply is None:
        return None
    facts = []
    for line in reply.splitlines():
        line = line.strip()
        if line.startswith(("- ", "* ")):
            fact = line[2:].strip()
            if fact and fact.upper() != "NONE":
                facts.append(fact)
    return facts[:max_facts]


def verify_messages(fact: str, passages: list[str]) -> list[dict[str, str]]:
    joined = "\n".join(f"[{i + 1}] {p}" for i, p in enumerate(passages)) or "(none)"
    return [{"role": "user", "content": VERIFY_TEMPLATE.format(passages=joined, fact=fact)}]


def parse_support(reply: str | None) -> float | None:
    if reply is None:
        return None
    text = reply.strip().upper()
    if text.startswith("NOT") or "NOT_SUPPORTED" in text or "NOT SUPPORTED" in text:
        return 0.0
    if "SUPPORTED" in text:
        return 1.0
    return None
