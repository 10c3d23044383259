"""Health gates of the GRPO stage: the recipe's `grpo.health` limits on the reward-hacking monitors, checked at every
logged step; a limit crossed stops training with a one-line reason.

The monitors are values of the step's training log (what `WarehouseLogCallback` stores in `train_logs`):

| monitor | logged as | what it is |
| --- | --- | --- |
| abstention_rate | knowrl/abstention_rate | share of completions that abstain (knowrl/rewards/monitors.py) |
| facts_per_completion | knowrl/facts_per_completion | atomic facts per fact-checked completion |
| completion_length | completions/mean_length | TRL's mean completion length, in tokens |
| grade_support_disagreement | knowrl/grade_support_disagreement | judge grade vs NLI support disagree |
| reward_failures | knowrl/reward_failure_rate | share of completions whose judge or fact check failed |

A limit (`Limit`) is crossed at a logged step by `above` / `below` (absolute), or `below_fraction_of_first` /
`above_multiple_of_first` (relative to the monitor's mean over its first `first_steps` measured logged steps, which
themselves never cross a relative limit); it trips when crossed at `steps` consecutive logged steps where the monitor
was measured (a logged step without a value neither crosses nor resets). With `logging_steps: L` each logged step is
TRL's mean over L optimizer steps.

`knowrl.train.callbacks.HealthCallback` applies the rules to the trainer's own log history
(`TrainerState.log_history`): it is saved in every checkpoint, so a resumed run checks its limits over the whole run,
and every rank of a multi-GPU run (whose logged values TRL gathers across ranks) takes the same decision at the same
step. This module imports neither TRL nor transformers: the recipe validates its `grpo.health` without them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, model_validator

from knowrl.config.types import StrictModel
from knowrl.errors import KnowrlError

MONITOR_KEYS: dict[str, str] = {
    "abstention_rate": "knowrl/abstention_rate",
    "facts_per_completion": "knowrl/facts_per_completion",
    "completion_length": "completions/mean_length",
    "grade_support_disagreement": "knowrl/grade_support_disagreement",
    "reward_failures": "knowrl/reward_failure_rate",
}
DEFAULT_FIRST_STEPS = 5
RATES = frozenset({"abstention_rate", "grade_support_disagreement", "reward_failures"})


class TrainingStoppedError(KnowrlError):
    """A GRPO run crossed one of its `grpo.health` limits and `grpo.health.on_trip` is `fail`. Not transient: the
    same run would game its reward the same way again. `report` is the stage's report of the stopped run (its
    monitors), which the orchestrator publishes although the stage failed."""

    def __init__(self, message: str, *, report: Any = None) -> None:
        super().__init__(message)
        self.report = report


class Limit(StrictModel):
    """When a monitor is out of bounds; at least one condition. See the module's docstring."""

    above: float | None = Field(None, description="crossed when the monitor is above this")
    below: float | None = Field(None, description="crossed when the monitor is below this")
    below_fraction_of_first: float | None = Field(
        None, gt=0, description="crossed when below this fraction of the mean of its first `first_steps` values"
    )
    above_multiple_of_first: float | None = Field(
        None, gt=0, description="crossed when above this multiple of the mean of its first `first_steps` values"
    )
    first_steps: int | None = Field(
        None, ge=1, description="logged steps whose mean is the baseline of the relative limits (default 5)"
    )
    steps: int = Field(1, ge=1, description="consecutive measured logged steps out of bounds that stop training")

    @model_validator(mode="after")
    def _has_a_condition(self) -> Limit:
        if self.above is None and self.below is None and not self.relative:
            raise ValueError("a limit needs above, below, below_fraction_of_first or above_multiple_of_first")
        if self.first_steps is not None and not self.relative:
            raise ValueError("first_steps applies to below_fraction_of_first / above_multiple_of_first only")
        return self

    @property
    def relative(self) -> bool:
        return self.below_fraction_of_first is not None or self.above_multiple_of_first is not None

    @property
    def baseline_steps(self) -> int:
        return self.first_steps or DEFAULT_FIRST_STEPS


class HealthConfig(StrictModel):
    """`grpo.health`: a limit per monitor (none by default: every monitor is logged and reported, nothing stops
    training), and what the stage does when one trips."""

    abstention_rate: Limit | None = None
    facts_per_completion: Limit | None = None
    completion_length: Limit | None = None
    grade_support_disagreement: Limit | None = None
    reward_failures: Limit | None = None
    on_trip: Literal["fail", "warn"] = Field(
        "fail",
        description="fail: the stage fails with the reason (nothing is evaluated or published); warn: the stage "
        "completes with the stopped model, marked stopped, and publish refuses it unless publish.force",
    )

    @model_validator(mode="after")
    def _rates_are_shares(self) -> HealthConfig:
        for name in RATES:
            limit = getattr(self, name)
            for bound in ("above", "below"):
                value = getattr(limit, bound) if limit is not None else None
                if value is not None and not 0 <= value <= 1:
                    raise ValueError(f"{name}.{bound}={value}: {name} is a share between 0 and 1")
        return self

    def limits(self) -> dict[str, Limit]:
        return {name: limit for name in MONITOR_KEYS if (limit := getattr(self, name)) is not None}


@dataclass(frozen=True)
class Trip:
    """A limit that tripped: at which logged steps, with what value, and the one-line reason."""

    monitor: str
    step: int  # the logged step at which the limit tripped
    first_step: int  # the first of the consecutive logged steps out of bounds
    value: float
    reason: str


def monitor_series(rows: Sequence[Mapping[str, Any]], monitor: str) -> list[tuple[int, float]]:
    """(step, value) of a monitor over log rows that carry a `step` (TrainerState.log_history's shape)."""
    key = MONITOR_KEYS[monitor]
    points = []
    for row in rows:
        value = row.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            points.append((int(row["step"]), float(value)))
    return points


def _crossed(limit: Limit, value: float, baseline: float | None) -> str | None:
    """How `value` is out of bounds (a phrase for the reason), or None."""
    if limit.above is not None and value > limit.above:
        return f"above {limit.above:g}"
    if limit.below is not None and value < limit.below:
        return f"below {limit.below:g}"
    if baseline is None:
        return None
    first = f"the first {limit.baseline_steps} logged steps' mean {baseline:.3g}"
    if limit.below_fraction_of_first is not None and value < limit.below_fraction_of_first * baseline:
        return f"below {limit.below_fraction_of_first:g} x {first}"
    if limit.above_multiple_of_first is not None and value > limit.above_multiple_of_first * baseline:
        return f"above {limit.above_multiple_of_first:g} x {first}"
    return None


def check_limit(monitor: str, limit: Limit, points: Sequence[tuple[int, float]]) -> Trip | None:
    """The first point at which `limit` trips over a monitor's (step, value) points, or None."""
    baseline = None
    first = limit.baseline_steps
    if limit.relative and len(points) >= first:
        baseline = sum(v for _, v in points[:first]) / first
    streak: list[int] = []
    for i, (step, value) in enumerate(points):
        how = _crossed(limit, value, baseline if i >= first else None)
        streak = [*streak, step] if how else []
        if len(streak) >= limit.steps:
            span = f"step {step}" if len(streak) == 1 else f"steps {streak[0]}-{step}"
            reason = f"{monitor} {value:.3g} {how} for {len(streak)} logged step{'s' * (len(streak) > 1)} ({span})"
            return Trip(monitor, step, streak[0], value, reason)
    return None


def check_health(cfg: HealthConfig, rows: Sequence[Mapping[str, Any]]) -> Trip | None:
    """The earliest trip of any of the recipe's limits over the log rows, or None while the run is healthy."""
    trips = [
        trip
        for monitor, limit in cfg.limits().items()
        if (trip := check_limit(monitor, limit, monitor_series(rows, monitor))) is not None
    ]
    return min(trips, key=lambda t: t.step) if trips else None


def unmeasured(cfg: HealthConfig, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Limited monitors that no log row measured: such a limit can never trip (e.g. facts_per_completion without a
    reward that checks facts)."""
    return [monitor for monitor in cfg.limits() if not monitor_series(rows, monitor)]


def describe_limit(limit: Limit | None) -> str:
    if limit is None:
        return "-"
    parts = [
        f"{name.replace('_', ' ')} {value:g}"
        for name in ("above", "below", "below_fraction_of_first", "above_multiple_of_first")
        if (value := getattr(limit, name)) is not None
    ]
    if limit.relative:
        parts.append(f"first {limit.baseline_steps}")
    return ", ".join(parts) + f"; {limit.steps} step{'s' * (limit.steps > 1)}"
