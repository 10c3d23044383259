"""End to end against a real Prefect server and process worker (started with `knowrl stack up`):
deploy, run knowrl/full with a failure injected in grpo, re-run from grpo, check upstream cache hits."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.faults.distributed import shell_exports
from tests.faults.inject import fault_env

pytestmark = pytest.mark.slow

SMALL = ["sft.max_steps=10", "grpo.max_steps=2", "grpo.per_device_train_batch_size=8", "evaluate.max_new_tokens=16"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stage_runs(home: Path) -> dict[str, int]:
    code = (
        "import duckdb, json, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
        "print(json.dumps(dict(c.execute('SELECT stage, count(*) FROM stage_runs GROUP BY stage').fetchall())))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(home / "warehouse.duckdb")], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


@pytest.fixture
def stack(tmp_path: Path):
    port = _free_port()
    env = {
        **os.environ,
        "KNOWRL_HOME": str(tmp_path / "home"),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        **fault_env("grpo@start"),  # GRPO fails once at its start (tests/faults/inject.py)
        "PREFECT_LOGGING_LEVEL": "INFO",
        "KNOWRL_REPO": str(REPO_ROOT),
    }
    env.pop("PREFECT_API_URL", None)
    env.pop("PREFECT_API_AUTH_STRING", None)
    knowrl = [sys.executable, "-m", "knowrl_cli", "stack"]
    up = subprocess.run(
        [*knowrl, "up", "--port", str(port)], env=env, capture_output=True, text=True, cwd=REPO_ROOT, timeout=300
    )
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        # The server asks for the stack's secret (0600 in <KNOWRL_HOME>/stack/api-auth): the `prefect` CLI below
        # sends it as the operator's shell would, with the exports `stack up` printed.
        env.update(shell_exports(up.stdout, env))
        assert env["PREFECT_API_URL"] == f"http://127.0.0.1:{port}/api"
        yield env, tmp_path / "home"
    finally:
        subprocess.run([*knowrl, "down"], env=env, capture_output=True, cwd=REPO_ROOT, timeout=120)


def _deployment_run(env: dict[str, str], params: dict, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "prefect",
            "deployment",
            "run",
            "knowrl/full",
            "--params",
            json.dumps(params),
            *extra,
            "--watch",
            "--watch-timeout",
            "900",
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=960,
    )


def test_full_deployment_fails_once_then_reruns_from_grpo_with_cached_upstream(stack) -> None:
    env, home = stack
    failed = _deployment_run(env, {"overrides": SMALL})
    assert failed.returncode != 0 and "Failed" in failed.stdout, failed.stdout[-3000:]
    before = _stage_runs(home)  # every stage before grpo ran once (whatever stages the pipeline has there)
    assert {"data", "knowledge", "sft"} <= set(before) and set(before.values()) == {1}, before
    assert not {"grpo", "evaluate", "publish"} & set(before), before

    rerun = _deployment_run(env, {"overrides": SMALL}, "-p", "from_stage=grpo")
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    # Upstream stages were cache hits (their task bodies did not run again); grpo onwards ran once.
    assert _stage_runs(home) == {**before, "grpo": 1, "evaluate": 1, "publish": 1}

    inspect = subprocess.run(
        [sys.executable, "-m", "prefect", "deployment", "inspect", "knowrl/retrain"],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=True,
    )
    assert "0 3 * * 1" in inspect.stdout
    listed = subprocess.run(
        [sys.executable, "-m", "prefect", "deployment", "ls"],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=True,
    ).stdout
    for name in ("full", "retrain", "data", "knowledge", "sft", "grpo", "evaluate", "publish"):
        assert f"knowrl/{name}" in listed
