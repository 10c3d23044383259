"""The GRPO health gates on synthetic step logs: each limit trips when crossed for its steps, and only then; the
monitors of a batch of scored completions; the callback stops training without saving the step that tripped."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from transformers import TrainerControl, TrainerState

from knowrl.judges.base import Grade
from knowrl.method.parsing import reward_view
from knowrl.rewards.monitors import batch_monitors, disagrees
from knowrl.rewards.scorer import Question, RewardParts
from knowrl.train.callbacks import HealthCallback
from knowrl.train.config import GRPOStageConfig
from knowrl.train.health import MONITOR_KEYS, HealthConfig, Limit, check_health, check_limit, unmeasured
from knowrl.train.report import sparkline


def rows(monitor: str, values: list[float | None], start: int = 1) -> list[dict[str, float]]:
    """Log rows as TrainerState.log_history holds them; None: a logged step that did not measure the monitor."""
    key = MONITOR_KEYS[monitor]
    return [{"step": start + i, "loss": 0.1, **({} if v is None else {key: v})} for i, v in enumerate(values)]


def health(**limits: dict) -> HealthConfig:
    return HealthConfig.model_validate(limits)


def test_abstention_above_trips_after_its_consecutive_steps_only() -> None:
    cfg = health(abstention_rate={"above": 0.9, "steps": 3})
    # Two steps over the limit, then one under: the streak restarts; steps 5-7 trip.
    log = rows("abstention_rate", [0.5, 0.95, 0.97, 0.4, 0.92, 0.95, 0.96, 0.99])
    trip = check_health(cfg, log)
    assert trip is not None
    assert (trip.monitor, trip.step, trip.first_step, trip.value) == ("abstention_rate", 7, 5, 0.96)
    assert trip.reason == "abstention_rate 0.96 above 0.9 for 3 logged steps (steps 5-7)"
    assert check_health(cfg, log[:6]) is None  # before step 7 it had not tripped


def test_facts_below_a_fraction_of_the_first_steps_mean() -> None:
    cfg = health(facts_per_completion={"below_fraction_of_first": 0.5, "first_steps": 2, "steps": 2})
    # Baseline (4 + 6) / 2 = 5, so the limit is 2.5; a single low step (4) does not trip, two in a row (6, 7) do.
    log = rows("facts_per_completion", [4.0, 6.0, 3.0, 2.0, 3.0, 2.4, 1.0])
    trip = check_health(cfg, log)
    assert trip is not None and (trip.step, trip.first_step) == (7, 6)
    assert trip.reason == (
        "facts_per_completion 1 below 0.5 x the first 2 logged steps' mean 5 for 2 logged steps (steps 6-7)"
    )


def test_the_first_steps_never_cross_a_relative_limit() -> None:
    cfg = health(facts_per_completion={"below_fraction_of_first": 0.5, "first_steps": 3})
    # The first steps make the baseline: a low one among them is not compared with itself.
    assert check_health(cfg, rows("facts_per_completion", [0.1, 5.0, 5.0, 4.0])) is None
    assert check_health(cfg, rows("facts_per_completion", [0.1, 5.0, 5.0, 1.0])).step == 4  # 1 < 0.5 x 3.37
    # Fewer measured steps than first_steps: no baseline, nothing relative can trip.
    assert check_health(cfg, rows("facts_per_completion", [9.0, 0.0])) is None


def test_completion_length_bounds() -> None:
    longer = health(completion_length={"above_multiple_of_first": 2.0, "first_steps": 1})
    assert check_health(longer, rows("completion_length", [50, 90, 101])).step == 3
    shorter = health(completion_length={"below": 10})
    assert check_health(shorter, rows("completion_length", [50, 12, 10])) is None
    assert check_health(shorter, rows("completion_length", [50, 12, 9.5])).reason == (
        "completion_length 9.5 below 10 for 1 logged step (step 3)"
    )


def test_disagreement_and_reward_failures_trip() -> None:
    cfg = health(grade_support_disagreement={"above": 0.3, "steps": 2}, reward_failures={"above": 0.2})
    assert check_health(cfg, rows("grade_support_disagreement", [0.1, 0.4, 0.2, 0.5, 0.6])).step == 5
    failing = rows("reward_failures", [0.0, 0.1, 0.25])
    trip = check_health(cfg, failing)
    assert trip.monitor == "reward_failures" and trip.step == 3
    # Both in one log: the earlier trip is the one reported.
    merged = [{**a, **b} for a, b in zip(rows("grade_support_disagreement", [0.5, 0.5, 0.5]), failing, strict=True)]
    assert check_health(cfg, merged).monitor == "grade_support_disagreement"


def test_unmeasured_steps_neither_cross_nor_reset() -> None:
    limit = Limit(above=0.9, steps=2)
    points = [(s, v) for s, v in [(1, 0.95), (3, 0.95)]]  # step 2 logged nothing for this monitor
    assert check_limit("abstention_rate", limit, points).reason.endswith("for 2 logged steps (steps 1-3)")
    cfg = health(abstention_rate={"above": 0.9, "steps": 2})
    assert check_health(cfg, rows("abstention_rate", [0.95, None, 0.95])).step == 3
    assert unmeasured(cfg, rows("abstention_rate", [None, None])) == ["abstention_rate"]
    assert unmeasured(cfg, rows("abstention_rate", [None, 0.1])) == []


def test_no_limits_never_trip() -> None:
    assert check_health(HealthConfig(), rows("abstention_rate", [1.0] * 10)) is None
    assert check_health(HealthConfig(), []) is None


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"abstention_rate": {}}, "a limit needs above, below"),
        ({"abstention_rate": {"above": 0.9, "first_steps": 3}}, "first_steps applies to"),
        ({"abstention_rate": {"above": 1.5}}, "is a share between 0 and 1"),
        ({"abstention_rate": {"above": 0.9, "step": 3}}, r"health\.abstention_rate\.step\s+Extra inputs"),
        ({"abstension_rate": {"above": 0.9}}, r"health\.abstension_rate\s+Extra inputs"),
        ({"facts_per_completion": {"below_fraction_of_first": 0}}, "greater than 0"),
        ({"on_trip": "ignore"}, "on_trip"),
    ],
)
def test_bad_limits_are_refused_when_the_recipe_loads(limits: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        GRPOStageConfig(health=limits)


def test_health_is_ours_not_a_trl_option() -> None:
    """`grpo.health` is a field of our config, so the preflight's check of TRL names never sees it."""
    cfg = GRPOStageConfig(health={"abstention_rate": {"above": 0.9, "steps": 3}}, max_steps=2)
    assert "health" not in cfg.trl_options and cfg.trl_options == {"max_steps": 2}
    assert cfg.health.abstention_rate == Limit(above=0.9, steps=3)


def test_preflight_accepts_a_recipe_with_health() -> None:
    from knowrl.train.preflight import check_grpo

    check_grpo(GRPOStageConfig(health={"reward_failures": {"above": 0.2}}, max_steps=2, num_generations=2))


def _part(
    grade: Grade | None, supported: list[bool] | None, answer: str = "x", failed: bool = False, judged: bool = True
) -> RewardParts:
    part = RewardParts(reward_view(f"<think>t</think><answer>{answer}</answer>"), grade=grade, judged=judged)
    if supported is not None:
        part.facts = [f"fact {i}" for i in range(len(supported))]
        part.supported, part.factuality = (supported, 0.5) if not failed else ([], 0.0)
        part.fact_check_failed = failed
    return part


def test_disagreement_definition() -> None:
    assert disagrees(_part(Grade.CORRECT, [True, False, False])) is True  # right, most facts unsupported
    assert disagrees(_part(Grade.CORRECT, [True, False])) is False  # half supported is not "low"
    assert disagrees(_part(Grade.INCORRECT, [True, True])) is True  # wrong, yet every fact supported
    assert disagrees(_part(Grade.INCORRECT, [True, False])) is False
    assert disagrees(_part(Grade.NOT_ATTEMPTED, [True])) is None  # an abstention is not compared
    assert disagrees(_part(Grade.CORRECT, [])) is None  # no fact: nothing to compare
    assert disagrees(_part(Grade.CORRECT, None)) is None  # facts not checked
    assert disagrees(_part(Grade.CORRECT, [False], failed=True)) is None


def test_batch_monitors() -> None:
    q = Question("Who?", ("Ada",), ("Ada",), "Ada")
    parts = [
        _part(Grade.CORRECT, [False, False]),  # disagrees
        _part(Grade.INCORRECT, [True, False, True, True]),
        _part(Grade.NOT_ATTEMPTED, None, answer="I don't know."),  # abstains
        _part(None, None),  # the judge failed on its answer
        _part(Grade.INCORRECT, [True], failed=True),  # the fact check failed
    ]
    row = batch_monitors(parts, [q] * len(parts), "2025-10")
    assert row["abstention_rate"] == pytest.approx(1 / 5)
    assert row["reward_failure_rate"] == pytest.approx(2 / 5)
    assert row["facts_per_completion"] == pytest.approx((2 + 4) / 2)  # over the two checked completions
    assert row["grade_support_disagreement"] == pytest.approx(1 / 2)
    # Nothing fact-checked or comparable: those monitors are absent, not zero.
    only_grades = batch_monitors([_part(Grade.CORRECT, None)], [q], "2025-10")
    assert set(only_grades) == {"abstention_rate", "reward_failure_rate"}
    assert batch_monitors([], [], "2025-10") == {}


def test_june_rules_count_a_prefiltered_decline_as_abstention_not_failure() -> None:
    q = Question("Who?", ("Ada",), ("Ada",), "Ada")
    declined = _part(None, None, answer="I cannot answer that.")  # settled by the June 2025 pre-filter, no grade
    no_keyword = _part(None, None, answer="Bob")  # settled too (no keyword of the gold answer)
    row = batch_monitors([declined, no_keyword], [q, q], "2025-06")
    assert row["abstention_rate"] == 0.5 and row["reward_failure_rate"] == 0.0
    assert batch_monitors([no_keyword], [q], "2025-10")["reward_failure_rate"] == 1.0  # graded by the judge: failed


def test_callback_stops_training_and_skips_the_tripped_steps_checkpoint() -> None:
    callback = HealthCallback(health(abstention_rate={"above": 0.9, "steps": 2}))
    state, control = TrainerState(global_step=1), TrainerControl()
    state.log_history = rows("abstention_rate", [0.95])
    control = callback.on_log(None, state, control)
    assert not control.should_training_stop and callback.trip is None
    state.global_step = 2
    state.log_history = rows("abstention_rate", [0.95, 0.99])
    control.should_save = True  # save_steps fell on this step
    control = callback.on_log(None, state, control)
    assert control.should_training_stop and not control.should_save
    assert callback.trip.step == 2 and callback.stopped_at == 2


def test_sparkline() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([2, 2, 2]) == "▁▁▁"
    assert len(sparkline(list(range(100)), width=20)) == 20
    assert sparkline([]) == ""


def test_health_round_trips_through_its_json() -> None:
    """The stage's config travels as JSON (the launcher's spec file, the artifact manifest, the report): every limit
    validates again as it was dumped."""
    cfg = GRPOStageConfig(
        health={
            "abstention_rate": {"above": 0.9, "steps": 3},
            "facts_per_completion": {"below_fraction_of_first": 0.5},
            "on_trip": "warn",
        }
    )
    again = GRPOStageConfig.model_validate(cfg.model_dump(mode="json"))
    assert again.health == cfg.health and again.health.facts_per_completion.baseline_steps == 5
