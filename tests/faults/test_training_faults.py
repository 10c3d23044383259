"""Training under faults: `kill -9` in GRPO right after a checkpoint (the rerun resumes from it and ends with the
counts of a clean run), a flaky judge (completes, failures counted) and a dead one (aborts in one line)."""

from __future__ import annotations

import contextlib
import json

import pytest

from tests.faults.conftest import (
    DEMO_RECIPE,
    SMALL_TRAINING,
    FaultHome,
    differences,
    open_fault_home,
    orphan_servers,
    sets,
    wait_gone,
)
from tests.faults.judge import endpoint_override, flaky_judge, refused_url

pytestmark = pytest.mark.slow

TRAINING_STAGES = ("run", "--recipe", DEMO_RECIPE, "--stages", "data,knowledge,sft,curate,grpo")


def _grpo_ref(fh: FaultHome) -> dict:
    import duckdb

    con = duckdb.connect(str(fh.home / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT ref FROM stage_runs WHERE stage = 'grpo' ORDER BY finished_at DESC").fetchall()
    finally:
        con.close()
    return json.loads(rows[0][0])


def _error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error:")]


def test_kill9_in_grpo_after_a_checkpoint_then_rerun_resumes(
    fault_home: FaultHome, clean_pipeline: dict, record
) -> None:
    assert clean_pipeline["run"].returncode == 0, "the clean run failed: see test_status_loop_beside_a_training_run"
    fault_home.seed_model()
    args = (*TRAINING_STAGES, *sets(SMALL_TRAINING))
    proc = fault_home.start(*args, point="grpo.after-checkpoint-1")
    fault_home.wait_for_point(proc)
    children = fault_home.kill9(proc)
    left = wait_gone(children, timeout=10)
    checkpoints = sorted(p.name for p in (fault_home.home / "runs").glob("grpo-*/checkpoint-*"))

    rerun = fault_home.run(*args)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    counts, stage_runs = fault_home.counts(), fault_home.stage_runs()
    resumed = _grpo_ref(fault_home)["metrics"]["resumed_from"]
    same = counts == clean_pipeline["counts"]
    record(
        "kill -9 in GRPO after checkpoint-1, rerun",
        "resumes from checkpoint-1, counts = clean run",
        f"checkpoints at kill {checkpoints}; rerun exit 0, resumed from {resumed}, stage runs {stage_runs}, "
        f"counts {'=' if same else '!='} clean, {len(left)} processes left by the kill, "
        f"debris {len(fault_home.debris())}",
    )
    assert resumed == "checkpoint-1"
    assert counts == clean_pipeline["counts"], differences(counts, clean_pipeline["counts"])
    assert stage_runs == {"data": 1, "knowledge": 1, "sft": 1, "curate": 1, "grpo": 1}
    assert not left and not orphan_servers(fault_home.root / "prefect")
    assert fault_home.debris() == []


@pytest.fixture(scope="module")
def judge_runs(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    """GRPO against a flaky judge and against a dead one, the two runs going together (one core each)."""
    with contextlib.ExitStack() as stack:
        yield _start_judge_runs(stack, tmp_path_factory, request)


def _start_judge_runs(
    stack: contextlib.ExitStack, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> dict:
    flaky_home = stack.enter_context(open_fault_home(tmp_path_factory.mktemp("flaky-judge"), request))
    dead_home = stack.enter_context(open_fault_home(tmp_path_factory.mktemp("dead-judge"), request))
    judge = stack.enter_context(flaky_judge(hang_s=4.0))
    dead = refused_url()
    for fh in (flaky_home, dead_home):
        fh.seed_model()
    # The tiny model rarely closes an <answer>, so most calls go to the fact extractor: both use the endpoint.
    flaky_overrides = [
        *SMALL_TRAINING,
        "grpo.per_device_train_batch_size=8",
        endpoint_override("judge", judge.base_url, timeout_s=1.0),
        endpoint_override("extractor", judge.base_url, timeout_s=1.0),
    ]
    dead_overrides = [
        *SMALL_TRAINING,
        "grpo.judge_failure_window=4",
        endpoint_override("judge", dead, timeout_s=2.0),
        endpoint_override("extractor", dead, timeout_s=2.0),
    ]
    flaky_proc = flaky_home.start(*TRAINING_STAGES, *sets(flaky_overrides))
    dead_proc = dead_home.start(*TRAINING_STAGES, *sets(dead_overrides))
    return {
        "flaky": (flaky_home, flaky_home.finish(flaky_proc), judge),
        "dead": (dead_home, dead_home.finish(dead_proc), dead),
    }


def test_flaky_judge_completes_grpo_with_the_failures_counted(judge_runs: dict, record) -> None:
    fh, done, judge = judge_runs["flaky"]
    calls = _grpo_ref(fh)["metrics"]["backend_calls"] if done.returncode == 0 else {}
    counted = {name: c for name, c in calls.items() if name in ("judge", "extractor")}
    failures = sum(c.get("failures", 0) for c in counted.values())
    record(
        "flaky judge: 15% HTTP 500, 15% hang past the timeout",
        "GRPO completes, failures counted",
        f"exit {done.returncode}; server saw {dict(judge.stats.outcomes)}; "
        f"GRPO counted {failures} failures ({counted})",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    injected = judge.stats.outcomes["http_500"] + judge.stats.outcomes["hang"]
    assert injected > 0, f"no failure was injected: {dict(judge.stats.outcomes)}"
    assert failures == injected  # no retries configured: every injected failure is one counted failure


def test_dead_judge_aborts_grpo_in_one_line_naming_the_endpoint(judge_runs: dict, record) -> None:
    fh, done, dead = judge_runs["dead"]
    errors = _error_lines(done.stderr)
    record(
        "dead judge (connection refused)",
        "GRPO aborts, exit != 0, one line naming the endpoint",
        f"exit {done.returncode}; error lines {len(errors)}: {errors[0][:140] if errors else done.stderr[-300:]}; "
        f"traceback {'Traceback' in done.stdout + done.stderr}",
    )
    assert done.returncode != 0
    assert len(errors) == 1 and dead in errors[0] and "GRPO aborted" in errors[0]
    assert "Traceback" not in done.stdout + done.stderr
    assert "grpo" not in fh.stage_runs()
