"""Reward functions by name, built around one shared scorer; which ones and their weights come from the recipe."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from knowrl.method.parsing import completion_text, is_well_formed
from knowrl.rewards.arithmetic import format_score
from knowrl.rewards.scorer import Question, RewardParts, RewardScorer

RewardFn = Callable[..., list[float | None]]


@dataclass
class RewardLog:
    """Per-batch means of every reward part, collected for the warehouse's training logs."""

    rows: list[dict[str, float]] = field(default_factory=list)

    def add(self, parts: list[RewardParts], questions: list[Question], scorer: RewardScorer) -> dict[str, float]:
        n = max(1, len(parts))
        judged = [p for p in parts if p.grade is not None]
        with_fact = [p for p in parts if p.factuality is not None]
        stats = scorer.stats()
        without_evidence = {q.text for q, p in zip(questions, parts, strict=True) if p.no_evidence}
        row = {
            "format_rate": sum(p.well_formed for p in parts) / n,
            "refusal_rate": sum(p.refusal for p in parts) / n,
            "correct_rate": sum(p.correctness == 2.0 for p in parts) / n,
            "missing_answer_rate": sum(p.answer is None for p in parts) / n,
            "judge_failures": float(sum(p.answer is not None and p.grade is None for p in parts)),
            "fact_check_failures": float(sum(p.fact_check_failed for p in parts)),
            "questions_without_evidence": float(len(without_evidence)),
            "judged": float(len(judged)),
            "facts_mean": sum(p.n_facts for p in with_fact) / max(1, len(with_fact)),
            "supported_share": sum(p.n_supported for p in with_fact) / max(1, sum(p.n_facts for p in with_fact)),
            "factuality_mean": sum(p.factuality for p in with_fact) / max(1, len(with_fact)),
            "judge_calls": float(stats.get("judge", {}).get("calls", 0)),
            "cache_hits": float(sum(s.get("cache_hits", 0) for s in stats.values())),
        }
        self.rows.append(row)
        return row


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def questions_from_columns(kwargs: dict[str, Any], n: int) -> list[Question]:
    """The dataset columns TRL passes to reward functions: question, answers, titles, topic."""
    texts = kwargs.get("question") or [""] * n
    answers = kwargs.get("answers") or [()] * n
    titles = kwargs.get("titles") or [()] * n
    topics = kwargs.get("topic") or [";".join(_as_tuple(t)) for t in titles]
    return [
        Question(str(q), _as_tuple(a), _as_tuple(t), str(topic or ""))
        for q, a, t, topic in zip(texts, answers, titles, topics, strict=True)
    ]


def _make(name: str, scorer: RewardScorer | None, log: RewardLog | None) -> RewardFn:
    def reward(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float | None]:
        texts = [completion_text(c) for c in completions]
        if name == "format":
            return [format_score(is_well_formed(t)) for t in texts]
        assert scorer is not None
        questions = questions_from_columns(kwargs, len(texts))
        parts = scorer.parts(texts, questions, "incorrect" if name == "combined" else "all")
        if log is not None and name in ("combined", "factuality"):
            row = log.add(parts, questions, scorer)
            if callable(kwargs.get("log_metric")):
                for metric, value in row.items():
                    kwargs["log_metric"](f"knowrl/{metric}", value)
        return [getattr(p, name) for p in parts]

    reward.__name__ = name
    reward.__qualname__ = name
    return reward


REWARDS = ("format", "correctness", "factuality", "combined")


def build_reward_functions(
    specs: list[Any], scorer: RewardScorer | None, log: RewardLog | None = None
) -> tuple[list[RewardFn], list[float]]:
    """TRL reward functions and weights for the recipe's `rewards: [{name, weight}]`."""
    functions, weights = [], []
    for spec in specs:
        if spec.name not in REWARDS:
            raise ValueError(f"unknown reward {spec.name!r}; known rewards: {', '.join(REWARDS)}")
        if spec.name != "format" and scorer is None:
            raise ValueError(f"reward {spec.name!r} needs a scorer (judge, extractor, verifier, knowledge store)")
        functions.append(_make(spec.name, scorer, log))
        weights.append(spec.weight)
    return functions, weights
