"""The regression gate: refuse to publish a model that is worse than its baseline beyond the recipe's limits."""

from __future__ import annotations

from typing import Any

from knowrl.evaluate.metrics import LOWER_IS_BETTER


class GateRefused(RuntimeError):
    """The trained model regressed on a gated metric; the message names it. `publish.force` overrides."""


def worsening(metric: str, base: float, trained: float) -> float:
    """How much worse the trained model is, in the metric's bad direction (negative: it improved)."""
    return trained - base if metric in LOWER_IS_BETTER else base - trained


def check_gate(gate: dict[str, float], comparison: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Violations as messages; a gate key is `benchmark.metric` (e.g. simpleqa.incorrect_rate)."""
    violations = []
    for key, limit in gate.items():
        bench, _, metric = key.partition(".")
        row = comparison.get(bench, {}).get(metric)
        if row is None:
            available = [f"{b}.{m}" for b, ms in comparison.items() for m in ms]
            raise GateRefused(f"gate metric {key!r} was not evaluated; evaluated metrics: {available}")
        worse = worsening(metric, row["base"], row["trained"])
        if worse > limit:
            violations.append(
                f"{key}: trained {row['trained']:.3f} vs baseline {row['base']:.3f} "
                f"({worse:+.3f} worse, limit {limit:+.3f})"
            )
    return violations
