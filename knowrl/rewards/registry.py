"""Reward functions by name: named top-level functions with TRL's signature, in one dict (as open-r1's
rewards.py), over one shared, memoised scorer (one judge batch per step for all of them). The recipe picks them and
their weights."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from knowrl.errors import ConfigError
from knowrl.judges.base import Grade
from knowrl.method.parsing import completion_text, is_well_formed, is_well_formed_with_confidence, stated_confidence
from knowrl.rewards.arithmetic import calibration_score, format_score, truthfulness_score
from knowrl.rewards.contradiction import ContradictionFn, contradiction_checker
from knowrl.rewards.family import check_contradictions
from knowrl.rewards.scorer import Question, RewardParts, RewardScorer

RewardFn = Callable[..., list[float | None]]


@dataclass
class RewardLog:
    """Per-batch means of every reward part, collected for the warehouse's training logs."""

    rows: list[dict[str, float]] = field(default_factory=list)
    # Per-batch monitors of the rewards beyond KnowRL (binary_rar's checks, calibration's stated confidences).
    family_rows: list[dict[str, float]] = field(default_factory=list)

    def add_family(self, row: dict[str, float], kwargs: dict[str, Any]) -> None:
        self.family_rows.append(row)
        _log_metrics(row, kwargs)

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


def _log_metrics(row: dict[str, float], kwargs: dict[str, Any]) -> None:
    if callable(kwargs.get("log_metric")):
        for metric, value in row.items():
            kwargs["log_metric"](f"knowrl/{metric}", value)


def _scored_with_questions(
    completions: list[Any], kwargs: dict[str, Any], scorer: RewardScorer, log: RewardLog | None, factuality_for: str
) -> tuple[list[RewardParts], list[Question]]:
    texts = [completion_text(c) for c in completions]
    questions = questions_from_columns(kwargs, len(texts))
    parts = scorer.parts(texts, questions, factuality_for)
    if log is not None:
        _log_metrics(log.add(parts, questions, scorer), kwargs)
    return parts, questions


def _scored(
    completions: list[Any], kwargs: dict[str, Any], scorer: RewardScorer, log: RewardLog | None, factuality_for: str
) -> list[RewardParts]:
    """Every completion's parts from the shared scorer (memoised: the step's other reward functions reuse them); the
    step's reward monitors are logged once, by the function that checks facts (or, without one, by the first reward
    beyond KnowRL)."""
    return _scored_with_questions(completions, kwargs, scorer, log, factuality_for)[0]


# Each reward has TRL's signature `fn(prompts, completions, **columns)`; `scorer` and `log` are bound by
# `build_reward_functions`. A None is "no signal" for that completion (TRL skips it).


def format_reward(
    prompts: list[Any], completions: list[Any], *, confidence: bool = False, **kwargs: Any
) -> list[float | None]:
    """+1 when the completion is `<think>...</think><answer>...</answer>` and nothing else, else -1. With
    `confidence` (bound when the calibration reward is on) one `<confidence>...</confidence>` may follow the answer."""
    check = is_well_formed_with_confidence if confidence else is_well_formed
    return [format_score(check(completion_text(c))) for c in completions]


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


# Beyond KnowRL: the rewards of later factuality-RL papers over the same scorer (README, "Beyond KnowRL").


def truthfulness_reward(
    prompts: list[Any],
    completions: list[Any],
    *,
    scorer: RewardScorer,
    log: RewardLog | None = None,
    monitors: bool = False,
    **kwargs: Any,
) -> list[float | None]:
    """TruthRL's ternary reward: +1 correct, 0 abstain (judged not attempted), -1 incorrect or no answer; None when
    the judge failed."""
    parts = _scored(completions, kwargs, scorer, log if monitors else None, "none")
    return [truthfulness_score(p.answer, p.grade) for p in parts]


def binary_rar_reward(
    prompts: list[Any],
    completions: list[Any],
    *,
    scorer: RewardScorer,
    checker: ContradictionFn,
    threshold: float,
    log: RewardLog | None = None,
    monitors: bool = False,
    **kwargs: Any,
) -> list[float | None]:
    """Binary RAR: 1 when no claim of the answer is contradicted by a passage retrieved for it (P(contradiction) at
    or above `threshold`), else 0; an abstention states nothing and scores 1; no answer or a failed check 0."""
    parts, questions = _scored_with_questions(completions, kwargs, scorer, log if monitors else None, "none")
    checks = check_contradictions(scorer, parts, questions, checker)
    rewards = [c.reward(threshold) for c in checks]
    if log is not None:
        n = max(1, len(checks))
        log.add_family(
            {
                "rar_reward_mean": sum(rewards) / n,
                "rar_claims_mean": sum(len(c.claims) for c in checks) / n,
                "rar_abstained_rate": sum(c.status == "abstained" for c in checks) / n,
                "rar_no_evidence": float(sum(c.status == "no_evidence" for c in checks)),
                "rar_failures": float(sum(c.status == "failed" for c in checks)),
            },
            kwargs,
        )
    return rewards  # type: ignore[return-value]


def calibration_reward(
    prompts: list[Any],
    completions: list[Any],
    *,
    scorer: RewardScorer,
    log: RewardLog | None = None,
    monitors: bool = False,
    **kwargs: Any,
) -> list[float | None]:
    """RLCR: 1{correct} - (q - 1{correct})^2, q the `<confidence>` stated after the answer (0.5 when absent or
    unreadable, and counted); a missing answer is not correct; None when the judge failed."""
    parts = _scored(completions, kwargs, scorer, log if monitors else None, "none")
    stated = [stated_confidence(completion_text(c)) for c in completions]
    rewards: list[float | None] = [
        None if p.answer is not None and p.grade is None else calibration_score(p.grade == Grade.CORRECT, q.value)
        for p, q in zip(parts, stated, strict=True)
    ]
    if log is not None:
        n = max(1, len(stated))
        log.add_family(
            {
                "confidence_missing": float(sum(not q.stated for q in stated)),
                "confidence_mean": sum(q.value for q in stated) / n,
            },
            kwargs,
        )
    return rewards


REWARD_FUNCTIONS: dict[str, RewardFn] = {
    "format": format_reward,
    "correctness": correctness_reward,
    "factuality": factuality_reward,
    "combined": combined_reward,
    "truthfulness": truthfulness_reward,
    "binary_rar": binary_rar_reward,
    "calibration": calibration_reward,
}
NO_SCORER = frozenset({"format"})  # rewards that read the completion's text only
FACT_LOGGING = frozenset({"factuality", "combined"})  # KnowRL's rewards that log the step's monitors
BEYOND_KNOWRL = frozenset({"truthfulness", "binary_rar", "calibration"})
# Read the judge's grade of every answer: the June 2025 rules settle some answers without one.
READS_GRADE = frozenset({"truthfulness", "calibration"})
DEFAULT_CONTRADICTION_THRESHOLD = 0.5


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


def _bound(spec: Any, names: list[str], scorer: RewardScorer, log: RewardLog | None, logger: str | None) -> dict:
    """What a scorer-backed reward gets bound: the scorer, the log (KnowRL's fact-checking rewards log the step's
    monitors; a reward beyond KnowRL logs its own, and the step's when it is the `logger`), and its options."""
    if spec.name in BEYOND_KNOWRL:
        bound: dict[str, Any] = {"scorer": scorer, "log": log, "monitors": spec.name == logger}
    else:
        bound = {"scorer": scorer, "log": log if spec.name in FACT_LOGGING else None}
    if spec.name in READS_GRADE and scorer.rules == "2025-06":
        raise ConfigError(
            f"reward {spec.name} reads the judge's grade of every answer, and grpo.reward_rules '2025-06' settles "
            "some answers without one (June 2025 pre-filters); set grpo.reward_rules: '2025-10'"
        )
    if spec.name == "binary_rar":
        threshold = getattr(spec, "contradiction_threshold", None)
        bound["threshold"] = DEFAULT_CONTRADICTION_THRESHOLD if threshold is None else threshold
        bound["checker"] = contradiction_checker(scorer.verifier)
    return bound


def build_reward_functions(
    specs: list[Any], scorer: RewardScorer | None, log: RewardLog | None = None
) -> tuple[list[RewardFn], list[float]]:
    """TRL reward functions (named as the recipe names them) and weights for the recipe's `rewards`."""
    check_reward_names(specs)
    names = [spec.name for spec in specs]
    # Without a KnowRL fact-checking reward, the first reward beyond KnowRL logs the step's monitors (once a step).
    logger = None if FACT_LOGGING & set(names) else next((n for n in names if n in BEYOND_KNOWRL), None)
    functions, weights = [], []
    for spec in specs:
        if spec.name in NO_SCORER:
            bound = {"confidence": True} if spec.name == "format" and "calibration" in names else {}
            functions.append(NamedReward(spec.name, REWARD_FUNCTIONS[spec.name], bound))
        elif scorer is None:
            raise ConfigError(f"reward {spec.name!r} needs a scorer (judge, extractor, verifier, knowledge store)")
        else:
            functions.append(
                NamedReward(spec.name, REWARD_FUNCTIONS[spec.name], _bound(spec, names, scorer, log, logger))
            )
        weights.append(spec.weight)
    return functions, weights
