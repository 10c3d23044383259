"""Benchmark metrics, which way each one is better, and paired bootstrap intervals of differences."""

from __future__ import annotations

from typing import Any

import numpy as np

from knowrl.evaluate.factscore import factscore_metrics

# +1: higher is better; -1: lower is better; 0: no bad direction. A higher refusal (not attempted) rate is the
# method's intended effect where the model does not know, and a lower one is not a regression either: the gate
# refuses to gate on it.
DIRECTION: dict[str, int] = {
    "correct_rate": 1,
    "incorrect_rate": -1,
    "not_attempted_rate": 0,
    "correct_given_attempted": 1,
    "f1": 1,
    "accuracy": 1,
    "format_rate": 1,
    "truncated_rate": -1,
    "unparseable_grades": -1,
    **{f"{m}_{s}": 1 for m in ("bleu", "rouge1", "rouge2", "rougeL") for s in ("acc", "diff", "max")},
    # factscore: more facts, or more abstentions, are not worse by themselves (the precision says how good they are)
    "precision": 1,
    "factscore": 1,
    "supported_per_response": 1,
    "facts_per_response": 0,
    "abstention_rate": 0,
    "fact_check_failures": -1,
}


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


def benchmark_metrics(kind: str, items: list[dict[str, Any]]) -> dict[str, float]:
    """Metrics of one model on one benchmark, from its scored items (dicts as stored in the warehouse)."""
    metrics: dict[str, float] = {}
    if kind == "qa":
        metrics.update(qa_metrics([i["grade"] for i in items]))
        metrics["unparseable_grades"] = float(sum(bool(i["details"].get("unparseable_grade")) for i in items))
    elif kind == "factscore":
        metrics.update(factscore_metrics(items))
    elif kind == "truthfulqa":
        for name in DIRECTION:
            if name.startswith(("bleu", "rouge")):
                metrics[name] = float(np.mean([i["details"][name] for i in items])) if items else 0.0
    else:
        metrics["accuracy"] = float(np.mean([i["score"] for i in items])) if items else 0.0
    metrics["format_rate"] = float(np.mean([bool(i["followed_format"]) for i in items])) if items else 0.0
    # Answers cut at the length limit: usually graded wrong, so a model that reasons longer can look worse.
    metrics["truncated_rate"] = float(np.mean([bool(i["details"].get("truncated")) for i in items])) if items else 0.0
    return metrics


def grade_moves(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> dict[str, int]:
    """How each answer's grade moved from one model to the other, items paired by id (a sampled item per sample):
    `{"correct->not_attempted": 2}` counts two answers the first model got right that the second refuses. KnowRL
    intends incorrect -> not_attempted; correct -> not_attempted is refusing what the model knew. A grade the judge
    could not give counts as `ungraded`."""
    first = {item["item_id"]: item["grade"] or "ungraded" for item in before}
    moves: dict[str, int] = {}
    for item in after:
        if item["item_id"] in first:
            key = f"{first[item['item_id']]}->{item['grade'] or 'ungraded'}"
            moves[key] = moves.get(key, 0) + 1
    return dict(sorted(moves.items()))


def refused_share(moves: dict[str, int], grade: str) -> float:
    """Of the answers the first model graded `grade`, the share the second refuses, from `grade_moves`' counts (0 when
    the first model gave no answer that grade). KnowRL should refuse more of the first model's wrong answers where the
    question cannot be known than of its right ones where it can."""
    before = sum(n for key, n in moves.items() if key.startswith(f"{grade}->"))
    return moves.get(f"{grade}->not_attempted", 0) / before if before else 0.0


def base_item_id(item_id: str) -> str:
    """The item a stored generation answers (a sampled one is stored as `<item id>#<sample>`)."""
    return item_id.split("#", 1)[0]


def sample_runs(items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The items of each sample run (one run when the benchmark was answered once)."""
    runs: dict[int, list[dict[str, Any]]] = {}
    for item in items:
        runs.setdefault(int(item["details"].get("sample", 0)), []).append(item)
    return [runs[k] for k in sorted(runs)]


def per_item_values(metric: str, items: list[dict[str, Any]]) -> list[float] | None:
    """The per-item quantity whose mean is the metric, for bootstrapping (None when the metric is not a mean); a
    sampled item's value is its mean over its samples, items in the order of their ids (paired across models)."""
    values = _stored_item_values(metric, items)
    if values is None:
        return None
    by_item: dict[str, list[float]] = {}
    for item, value in zip(items, values, strict=True):
        by_item.setdefault(base_item_id(item["item_id"]), []).append(value)
    return [float(np.mean(by_item[key])) for key in sorted(by_item)]


def _stored_item_values(metric: str, items: list[dict[str, Any]]) -> list[float] | None:
    by_grade = {"correct_rate": "correct", "incorrect_rate": "incorrect", "not_attempted_rate": "not_attempted"}
    if metric in by_grade:
        return [1.0 if i["grade"] == by_grade[metric] else 0.0 for i in items]
    if metric == "accuracy":
        return [float(i["score"] or 0.0) for i in items]
    if metric == "format_rate":
        return [1.0 if i["followed_format"] else 0.0 for i in items]
    if metric == "truncated_rate":
        return [1.0 if i["details"].get("truncated") else 0.0 for i in items]
    if metric.startswith(("bleu", "rouge")):
        return [float(i["details"][metric]) for i in items]
    # factscore: the means over every response pair across models; precision and #facts (over the responding
    # responses only, which differ between models) get no paired interval.
    if metric == "supported_per_response":
        return [float(i["details"].get("n_supported", 0)) for i in items]
    if metric == "abstention_rate":
        return [1.0 if i["details"].get("abstained") else 0.0 for i in items]
    return None


def bootstrap_diff(base: list[float], other: list[float], samples: int, seed: int) -> tuple[float, float, float]:
    """Mean paired difference (other - base) and its 95% percentile bootstrap interval (scipy.stats.bootstrap)."""
    from scipy.stats import bootstrap

    a, b = np.asarray(base, dtype=float), np.asarray(other, dtype=float)
    if len(a) != len(b) or len(a) == 0:
        raise ValueError(f"bootstrap needs paired, non-empty samples; got {len(a)} and {len(b)}")
    diff = b - a
    mean = float(diff.mean())
    if np.ptp(diff) == 0:  # every item moved the same way: the interval is that one value
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    result = bootstrap((diff,), np.mean, n_resamples=samples, confidence_level=0.95, method="percentile", rng=rng)
    return mean, float(result.confidence_interval.low), float(result.confidence_interval.high)
