"""Benchmark metrics and the paired bootstrap interval of (trained - base) differences."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# Metrics where lower is better; the report and the publish gate read this.
LOWER_IS_BETTER = {"incorrect_rate", "not_attempted_rate"}


def _rate(grades: list[str | None], value: str) -> float:
    return sum(g == value for g in grades) / len(grades) if grades else 0.0


def qa_metrics(grades: list[str | None]) -> dict[str, float]:
    """SimpleQA's metrics: the three rates, correct given attempted, and F1 of the two."""
    correct = _rate(grades, "correct")
    incorrect = _rate(grades, "incorrect")
    not_attempted = _rate(grades, "not_attempted")
    attempted = correct + incorrect
    cga = correct / attempted if attempted else 0.0
    f1 = 2 * correct * cga / (correct + cga) if correct + cga else 0.0
    return {
        "correct_rate": correct,
        "incorrect_rate": incorrect,
        "not_attempted_rate": not_attempted,
        "correct_given_attempted": cga,
        "f1": f1,
    }


def accuracy(scores: list[float]) -> dict[str, float]:
    return {"accuracy": float(np.mean(scores)) if scores else 0.0}


def truthfulqa_extra(details: list[dict[str, float]]) -> dict[str, float]:
    if not details:
        return {}
    return {
        "bleu_diff": float(np.mean([d["bleu_diff"] for d in details])),
        "rouge_diff": float(np.mean([d["rouge_diff"] for d in details])),
        "bleu_acc": float(np.mean([d["bleu_diff"] > 0 for d in details])),
        "rouge_acc": float(np.mean([d["rouge_diff"] > 0 for d in details])),
    }


def per_item_values(metric: str, grades: list[str | None], details: list[dict[str, float]]) -> list[float] | None:
    """The per-item quantity whose mean is the metric, for bootstrapping (None when not a mean)."""
    by_grade = {
        "correct_rate": "correct",
        "incorrect_rate": "incorrect",
        "not_attempted_rate": "not_attempted",
        "accuracy": "correct",
    }
    if metric in by_grade:
        return [1.0 if g == by_grade[metric] else 0.0 for g in grades]
    if metric in ("bleu_diff", "rouge_diff") and details:
        return [d[metric] for d in details]
    if metric in ("bleu_acc", "rouge_acc") and details:
        key = metric.replace("acc", "diff")
        return [1.0 if d[key] > 0 else 0.0 for d in details]
    return None


def bootstrap_diff(
    base: list[float],
    trained: list[float],
    samples: int,
    seed: int,
    statistic: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[float, float, float]:
    """Mean difference (trained - base) over paired items and its 95% percentile interval."""
    a, b = np.asarray(base, dtype=float), np.asarray(trained, dtype=float)
    if len(a) != len(b) or len(a) == 0:
        raise ValueError(f"bootstrap needs paired, non-empty samples; got {len(a)} and {len(b)}")
    diff = b - a
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), size=(samples, len(diff)))
    means = diff[idx].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(diff.mean()), float(low), float(high)
