"""Reward functions by name: named top-level functions with TRL's signature, in one dict (as open-r1's
rewards.py), over one shared, memoised scorer (one judge batch per step for all of them). The recipe picks them and
their weights."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from knowrl.errors import ConfigError
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


def _scored(
    completions: list[Any], kwargs: dict[str, Any], scorer: RewardScorer, log: RewardLog | None, factuality_for: str
) -> list[RewardParts]:
    """Every completion's parts from the shared scorer (memoised: the step's other reward functions reuse them); the
    step's reward monitors are logged once, by the function that checks facts."""
    texts = [completion_text(c) for c in completions]
    questions = questions_from_columns(kwargs, len(texts))
    parts = scorer.parts(texts, questions, factuality_for)
    if log is not None:
        row = log.add(parts, questions, scorer)
        if callable(kwargs.get("log_metric")):
            for metric, value in row.items():
                kwargs["log_metric"](f"knowrl/{metric}", value)
    return parts


# Each reward has TRL's signature `fn(prompts, completions, **columns)`; `scorer` and `log` are bound by
# `build_reward_functions`. A None is "no signal" for that completion (TRL skips it).


def format_reward(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float | None]:
    """+1 when the completion is `<think>...</think><answer>...</answer>` and nothing else, else -1."""
    return [format_score(is_well_formed(completion_text(c))) for c in completions]


def correctness_reward(
    prompts: list[Any], completions: list[Any], *, scorer: RewardScorer, log: RewardLog | None = None, **kwargs: Any
) -> list[float | None]:
    """2 correct, -1 incorrect, 1 not attempted (the judge's grade of the answer tag); -1 for no answer."""
    return [p.correctness for p in _scored(completions, kwargs, scorer, None, "all")]


def factuality_reward(
    prompts: list[Any], completions: list[Any], *, scorer: RewardScorer, log: RewardLog | None = None, **kwargs: Any
) -> list[float | None]:
    """Supported facts of the reasoning / facts, times the length penalty (FActScore with gamma 10)."""
    return [p.factuality for p in _scored(completions, kwargs, scorer, log, "all")]


def combined_reward(
    prompts: list[Any], completions: list[Any], *, scorer: RewardScorer, log: RewardLog | None = None, **kwargs: Any
) -> list[float | None]:
    """KnowRL's reward: -1 + factuality when the answer is judged incorrect (or missing), else correctness."""
    return [p.combined for p in _scored(completions, kwargs, scorer, log, "incorrect")]


REWARD_FUNCTIONS: dict[str, RewardFn] = {
    "format": format_reward,
    "correctness": correctness_reward,
    "factuality": factuality_reward,
    "combined": combined_reward,
}
NO_SCORER = frozenset({"format"})  # rewards that read the completion's text only


class NamedReward:
    """A reward function with its scorer bound, named as the recipe names it: TRL logs each reward as
    `rewards/<__name__>/mean` (it unwraps a functools.partial to the function's own name)."""

    def __init__(self, name: str, function: RewardFn, bound: dict[str, Any]) -> None:
        self.__name__ = name
        self.function, self.bound = function, bound

    def __call__(self, prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float | None]:
        return self.function(prompts, completions, **self.bound, **kwargs)


def check_reward_names(specs: list[Any]) -> None:
    """Every reward the recipe names exists (a preflight check: before any stage computes)."""
    for spec in specs:
        if spec.name not in REWARD_FUNCTIONS:
            raise ConfigError(
                f"unknown reward {spec.name!r} in grpo.rewards; known rewards: {', '.join(REWARD_FUNCTIONS)}"
            )


def build_reward_functions(
    specs: list[Any], scorer: RewardScorer | None, log: RewardLog | None = None
) -> tuple[list[RewardFn], list[float]]:
    """TRL reward functions (named as the recipe names them) and weights for the recipe's `rewards`."""
    check_reward_names(specs)
    functions, weights = [], []
    for spec in specs:
        if spec.name in NO_SCORER:
            functions.append(NamedReward(spec.name, REWARD_FUNCTIONS[spec.name], {}))
        elif scorer is None:
            raise ConfigError(f"reward {spec.name!r} needs a scorer (judge, extractor, verifier, knowledge store)")
        else:
            functions.append(NamedReward(spec.name, REWARD_FUNCTIONS[spec.name], {"scorer": scorer, "log": log}))
        weights.append(spec.weight)
    return functions, weights
