"""Score one benchmark's generations: the final answer of any model, judge grades, letters, integers, BLEU/ROUGE.

Every model is graded on its final answer (`final_answer`): the answer tag's text when it used the format,
else the text after its last </think>, else its whole output. Whether it followed the format is kept per item.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from knowrl.evaluate.benchmarks import EvalItem
from knowrl.evaluate.factscore import FactCheck, check_responses
from knowrl.judges.base import Grade, Judge, JudgeItem
from knowrl.method.parsing import final_answer

# GPQA: the pre-defined last line "The correct answer is (X)"; the last such statement counts.
_GPQA_LINE = re.compile(r"correct answer is:?\s*\(?\s*([A-D])\s*\)?(?![A-Za-z])", re.I)
_BOXED = "\\boxed{"
_INTEGER = re.compile(r"-?\d[\d,]*")


@dataclass
class ScoredItem:
    item_id: str
    question: str
    generation: str
    answer: str | None
    parse_status: str  # where the answer came from: answer_tag | after_think | whole_output | empty
    followed_format: bool
    grade: str | None = None
    score: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


def extract_letter(text: str | None) -> str | None:
    """The letter of GPQA's pre-defined final line; an answer that merely starts with "A " is not the letter A."""
    if not text:
        return None
    found = _GPQA_LINE.findall(text)
    return found[-1].upper() if found else None


def boxed_content(text: str) -> str | None:
    """The content of the last \\boxed{...} (braces inside it balanced), or None."""
    start = text.rfind(_BOXED)
    if start < 0:
        return None
    depth, begin = 1, start + len(_BOXED)
    for pos in range(begin, len(text)):
        depth += {"{": 1, "}": -1}.get(text[pos], 0)
        if depth == 0:
            return text[begin:pos]
    return None


def extract_integer(answer: str | None) -> int | None:
    """The integer an answer states: its first number ("33 (12+21)" is 33)."""
    if not answer:
        return None
    found = _INTEGER.search(answer)
    if not found:
        return None
    try:
        return int(found.group(0).replace(",", ""))
    except ValueError:
        return None


def aime_answer(generation: str, tagged: str | None) -> str | None:
    """AIME's answer: the last \\boxed{} anywhere in the output, else the answer tag's text."""
    return boxed_content(generation) or tagged


def _similarity(answer: str, true_refs: list[str], false_refs: list[str]) -> dict[str, float]:
    """TruthfulQA's generation metrics: for BLEU and ROUGE-1/2/L, the best score against a true reference, against a
    false one, their difference, and whether the true one wins (the set's own max-over-references evaluation)."""
    import sacrebleu
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeLsum"])
    out: dict[str, float] = {}

    def best(refs: list[str], metric: str) -> float:
        if not refs:
            return 0.0
        if metric == "bleu":
            return max(sacrebleu.sentence_bleu(answer, [r]).score for r in refs)
        return max(100 * scorer.score(r, answer)[metric].fmeasure for r in refs)

    for metric, name in (("bleu", "bleu"), ("rouge1", "rouge1"), ("rouge2", "rouge2"), ("rougeLsum", "rougeL")):
        true_best, false_best = best(true_refs, metric), best(false_refs, metric)
        out[f"{name}_max"] = true_best
        out[f"{name}_diff"] = true_best - false_best
        out[f"{name}_acc"] = float(true_best > false_best)
    return out


def exact_grade(predicted: str | None, gold: str) -> str:
    """Graded by exact match: no extracted answer is not attempted."""
    if predicted is None:
        return Grade.NOT_ATTEMPTED.value
    return Grade.CORRECT.value if predicted == gold else Grade.INCORRECT.value


def _grade_qa(items: list[EvalItem], scored: list[ScoredItem], judge: Judge) -> None:
    judged = [i for i, s in enumerate(scored) if s.answer]
    grades = judge.grade_many(
        [JudgeItem(items[i].question, tuple(items[i].gold), scored[i].answer or "") for i in judged]
    )
    for i, grade in zip(judged, grades, strict=True):
        if grade is None:
            # An unreadable grade counts as not attempted, as SimpleQA's own evaluation does; it is counted.
            scored[i].details["unparseable_grade"] = True
        scored[i].grade = (grade or Grade.NOT_ATTEMPTED).value
    for s in scored:
        if s.answer is None:
            s.grade = Grade.NOT_ATTEMPTED.value  # no final answer: nothing was asserted
        s.score = 1.0 if s.grade == Grade.CORRECT.value else 0.0


def _grade_integer(items: list[EvalItem], scored: list[ScoredItem], judge: Judge | None) -> None:
    answers = [aime_answer(s.generation, s.answer if s.parse_status == "answer_tag" else None) for s in scored]
    for s, answer, item in zip(scored, answers, items, strict=True):
        value = extract_integer(answer)
        s.details = {"extracted": answer, "predicted": None if value is None else str(value), "gold": item.gold[0]}
    if judge is not None:  # an LLM judge reads the extracted answer against the gold integer (the paper's way)
        judged = [i for i, a in enumerate(answers) if a]
        asked = [JudgeItem(items[i].question, tuple(items[i].gold), answers[i] or "") for i in judged]
        grades = judge.grade_many(asked)
        verdict: dict[int, Grade | None] = dict(zip(judged, grades, strict=True))
        for i, s in enumerate(scored):
            s.grade = (verdict.get(i) or Grade.NOT_ATTEMPTED).value if answers[i] else Grade.NOT_ATTEMPTED.value
    else:  # exact integer match
        for s in scored:
            s.grade = exact_grade(s.details["predicted"], s.details["gold"])
    for s in scored:
        s.score = 1.0 if s.grade == Grade.CORRECT.value else 0.0


def _grade_factscore(items: list[EvalItem], scored: list[ScoredItem], facts: FactCheck | None) -> None:
    if facts is None:
        raise ValueError("a factscore benchmark needs a FactCheck (the evaluation's extractor, verifier and store)")
    results = check_responses(
        facts, [i.question for i in items], [i.titles for i in items], [s.answer for s in scored]
    )
    for s, result in zip(scored, results, strict=True):
        s.details = result
        s.grade = Grade.NOT_ATTEMPTED.value if result["abstained"] else None
        s.score = result["precision"]


def score_items(
    items: list[EvalItem],
    generations: list[str],
    judge: Judge,
    integer_judge: Judge | None = None,
    facts: FactCheck | None = None,
) -> list[ScoredItem]:
    """Grade one benchmark's generations. `integer_judge` grades AIME answers when an LLM judge is configured;
    `facts` checks a factscore benchmark's responses against the knowledge store."""
    scored = []
    for item, text in zip(items, generations, strict=True):
        final = final_answer(text)
        scored.append(ScoredItem(item.item_id, item.question, text, final.answer, final.source, final.followed_format))
    kind = items[0].kind if items else "qa"
    if kind == "qa":
        _grade_qa(items, scored, judge)
    elif kind == "truthfulqa":
        for item, s in zip(items, scored, strict=True):
            s.details = _similarity(s.answer or "", item.gold, item.incorrect)
            s.score = s.details["bleu_acc"]
    elif kind == "factscore":
        _grade_factscore(items, scored, facts)
    elif kind == "mc":
        for item, s in zip(items, scored, strict=True):
            # The pre-defined line may stand in the answer tag or after the reasoning: read the final answer first.
            predicted = extract_letter(s.answer) or extract_letter(s.generation.rsplit("</think>", 1)[-1])
            s.details = {"predicted": predicted, "gold": item.gold[0]}
            s.grade = exact_grade(predicted, item.gold[0])
            s.score = 1.0 if s.grade == Grade.CORRECT.value else 0.0
    else:
        _grade_integer(items, scored, integer_judge)
    return scored
