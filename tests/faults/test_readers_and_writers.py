"""Readers and concurrent writers never fail a run: `knowrl status` in a loop beside a training run, and two runs
started together on one fresh home."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.faults.conftest import DEMO_RECIPE, CleanRun, FaultHome, differences

pytestmark = pytest.mark.slow


def test_status_loop_beside_a_training_run(clean_pipeline: dict, record) -> None:
    run, statuses = clean_pipeline["run"], clean_pipeline["statuses"]
    kinds = Counter(s["kind"] for s in statuses)
    bad = [s for s in statuses if s["kind"] == "bad"]
    record(
        "`knowrl run` data..grpo with a `knowrl status` loop beside it",
        "run exit 0; each status exit 0 or one 'busy' line",
        f"run exit {run.returncode}; {len(statuses)} status calls: {dict(kinds)}",
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(statuses) >= 3, "the status loop hardly ran: the probe proves nothing"
    assert not bad, bad[:3]
    assert clean_pipeline["stage_runs"] == {"data": 1, "knowledge": 1, "sft": 1, "curate": 1, "grpo": 1}


def test_two_runs_started_together_on_one_fresh_home(
    fault_home: FaultHome, clean_data_knowledge: CleanRun, record
) -> None:
    args = ("run", "--recipe", DEMO_RECIPE, "--stages", "data,knowledge")
    first, second = fault_home.start(*args), fault_home.start(*args)
    results = [fault_home.finish(first), fault_home.finish(second)]
    counts, stage_runs = fault_home.counts(), fault_home.stage_runs()
    tracebacks = sum("Traceback" in r.stderr for r in results)
    record(
        "two `knowrl run --stages data,knowledge` at once, one fresh home",
        "both exit 0, warehouse = clean run",
        f"exits {[r.returncode for r in results]}, stage runs {stage_runs}, counts "
        f"{'=' if counts == clean_data_knowledge.counts else '!='} clean, tracebacks {tracebacks}",
    )
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
    assert counts == clean_data_knowledge.counts, differences(counts, clean_data_knowledge.counts)
    assert fault_home.debris() == []
