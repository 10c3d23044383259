"""Score one benchmark's generations: answer extraction, judge grades, letters, integers, BLEU/ROUGE."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from knowrl.evaluate.benchmarks import LETTERS, EvalItem
from knowrl.judges.base import Grade, Judge, JudgeItem
from knowrl.method.parsing import parse_completion

_LETTER = re.compile(r"^\(?([A-D])\)?(?:[\s.:)]|$)")
_LETTER_ANYWHERE = re.compile(r"\(([A-D])\)|\b([A-D])\b")
_INTEGER = re.compile(r"-?\d[\d,]*")


@dataclass
class ScoredItem:
    item_id: str
    question: str
    generation: str
    answer: str | None
    parse_status: str
    grade: str | None = None
    score: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


def extract_letter(answer: str | None, choices: list[str]) -> str | None:
    if not answer:
        return None
    text = answer.strip()
    match = _LETTER.match(text)
    if match:
        return match.group(1)
    for i, choice in enumerate(choices):
        if choice and choice.casefold() == text.casefold():
            return LETTERS[i]
    found = _LETTER_ANYWHERE.search(text)
    return (found.group(1) or found.group(2)) if found else None


def extract_integer(answer: str | None) -> int | None:
    if not answer:
        return None
    numbers = _INTEGER.findall(answer)
    if not numbers:
        return None
    try:
        return int(numbers[-1].replace(",", ""))
    except ValueError:
        return None


def _similarity_diff(answer: str, correct: list[str], incorrect: list[str]) -> dict[str, float]:
    """TruthfulQA's generation metric: max similarity to a correct reference minus max to an incorrect one."""
    import sacrebleu
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"])

    def bleu(ref: str) -> float:
        return sacrebleu.sentence_bleu(answer, [ref]).score

    def rouge(ref: str) -> float:
        return scorer.score(ref, answer)["rougeL"].fmeasure

    best = {
        "bleu_correct": max((bleu(r) for r in correct), default=0.0),
        "bleu_incorrect": max((bleu(r) for r in incorrect), default=0.0),
        "rouge_correct": max((rouge(r) for r in correct), default=0.0),
        "rouge_incorrect": max((rouge(r) for r in incorrect), default=0.0),
    }
    best["bleu_diff"] = best["bleu_correct"] - best["bleu_incorrect"]
    best["rouge_diff"] = best["rouge_correct"] - best["rouge_incorrect"]
    return best


def score_items(benchmark: str, items: list[EvalItem], generations: list[str], judge: Judge) -> list[ScoredItem]:
    scored = []
    for item, text in zip(items, generations, strict=True):
        parsed = parse_completion(text)
        scored.append(ScoredItem(item.item_id, item.question, text, parsed.answer, parsed.status))
    if items and items[0].kind == "qa":
        judged = [i for i, s in enumerate(scored) if s.answer]
        grades = judge.grade_many(
            [
                JudgeItem(items[i].question, tuple(items[i].gold), scored[i].answer or "", tuple(items[i].incorrect))
                for i in judged
            ]
        )
        for i, grade in zip(judged, grades, strict=True):
            scored[i].grade = grade.value if grade else None
        for item, s in zip(items, scored, strict=True):
            if s.answer is None:
                s.grade = Grade.NOT_ATTEMPTED.value  # no answer given: nothing was asserted
            s.score = 1.0 if s.grade == Grade.CORRECT.value else 0.0
            if benchmark == "truthfulqa":
                s.details = _similarity_diff(s.answer or "", item.gold, item.incorrect)
    else:
        for item, s in zip(items, scored, strict=True):
            if item.kind == "mc":
                predicted = extract_letter(s.answer, item.choices)
            else:
                value = extract_integer(s.answer)
                predicted = None if value is None else str(value)
            s.details = {"predicted": predicted, "gold": item.gold[0]}
            s.grade = "correct" if predicted == item.gold[0] else ("incorrect" if predicted else "not_attempted")
            s.score = 1.0 if predicted == item.gold[0] else 0.0
    return scored
