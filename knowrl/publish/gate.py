"""The regression gate: refuse to publish a model that is worse than its baseline beyond the recipe's limits.

Which way is worse comes from each metric's direction (`knowrl.evaluate.metrics.DIRECTION`); a metric with no
bad direction (the refusal rate, whose rise is the method's intended effect) cannot be gated.
"""

from __future__ import annotations

from typing import Any

from knowrl.errors import ConfigError, KnowrlError
from knowrl.evaluate.metrics import DIRECTION


class GateRefused(KnowrlError):
    """The trained model regressed on a gated metric; the message names it. `publish.force` overrides."""


class GateConfigError(ConfigError):
    """A gate names a metric that was not evaluated or that has no bad direction."""


def worsening(metric: str, base: float, trained: float) -> float:
    """How much worse the trained model is, in the metric's bad direction (negative: it improved)."""
    direction = DIRECTION.get(metric)
    if not direction:
        raise GateConfigError(
            f"metric {metric!r} has no bad direction (a higher refusal rate is the intended effect, a lower one is "
            "not a regression); gate on incorrect_rate, correct_rate or f1 instead"
        )
    return (base - trained) * direction


def check_gate(gate: dict[str, float], comparison: dict[str, dict[str, Any]]) -> list[str]:
    """Violations of GRPO against the baseline, as messages; a gate key is `benchmark.metric`."""
    violations = []
    for key, limit in gate.items():
        bench, _, metric = key.partition(".")
        row = comparison.get(bench, {}).get("metrics", {}).get(metric)
        if row is None:
            available = [f"{b}.{m}" for b, entry in comparison.items() for m in entry["metrics"]]
            raise GateConfigError(f"gate metric {key!r} was not evaluated; evaluated metrics: {available}")
        worse = worsening(metric, row["base"], row["grpo"])
        if worse > limit:
            violations.append(
                f"{key}: GRPO {row['grpo']:.3f} vs baseline {row['base']:.3f} ({worse:+.3f} worse, limit {limit:+.3f})"
            )
    return violations
