"""End to end on workers that share no disk: `knowrl stack up --distributed` (PostgreSQL, an S3 server, the Prefect
server on PostgreSQL, a cpu and a gpu worker with their own KNOWRL_HOME), `prefect deployment run knowrl/full` with
the GPU stages on the gpu worker and a failure injected in GRPO after its first checkpoint; then the gpu worker and
its home are deleted, a fresh gpu worker starts with an empty home, and the rerun from grpo resumes from the
checkpoint in the object store, finds data/knowledge/sft as cache hits, completes, and publishes into the bucket."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from knowrl_cli.local_services import free_port
from tests.conftest import REPO_ROOT
from tests.faults.distributed import shell_exports
from tests.faults.inject import fault_env

pytestmark = pytest.mark.slow

SMALL = [
    "sft.max_steps=6",
    "sft.save_steps=100",
    "sft.sample_prompts=0",
    "grpo.max_steps=2",
    "grpo.save_steps=1",
    "grpo.per_device_train_batch_size=8",
    "evaluate.max_new_tokens=16",
    "evaluate.bootstrap_samples=100",
]
KNOWRL = [sys.executable, "-m", "knowrl_cli"]


def _stack_dir(env: dict[str, str]) -> Path:
    return Path(env["KNOWRL_HOME"]) / "stack"


def _worker_env(env: dict[str, str]) -> dict[str, str]:
    """The environment the stack gives its workers (remote profile and credentials), read from its 0600 file."""
    lines = (_stack_dir(env) / "worker.env").read_text().splitlines()
    return {**env, **dict(line.split("=", 1) for line in lines if line)}


def _query(env: dict[str, str], home: Path, code: str) -> object:
    """Run `code` (which sets `result`) against the shared warehouse, as a fresh process with the workers' env."""
    program = (
        "import json, sys\nfrom storage import Paths, open_warehouse\nfrom storage.stage_runs import StageRuns\n"
        f"warehouse = open_warehouse(Paths.from_env(sys.argv[1]), read_only=True)\n{code}\nprint(json.dumps(result))"
    )
    out = subprocess.run(
        [sys.executable, "-c", program, str(home)],
        env=_worker_env(env),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _stage_runs(env: dict[str, str], home: Path) -> dict[str, int]:
    code = (
        "rows = warehouse.query('SELECT stage, count(*) AS n FROM stage_runs GROUP BY stage')\n"
        "result = {row['stage']: row['n'] for row in rows}"
    )
    return _query(env, home, code)  # type: ignore[return-value]


def _worker_logs(env: dict[str, str]) -> str:
    """The end of both workers' logs, for a failure message (the stack's folder is removed after the test)."""
    tails = []
    for name in ("worker-cpu", "worker-gpu"):
        log = _stack_dir(env) / f"{name}.log"
        lines = (log.read_text(errors="replace") if log.exists() else "").splitlines()
        tails.append(f"\n--- {name} (last lines) ---\n" + "\n".join(line[:300] for line in lines[-25:]))
    return "".join(tails)


def _deployment_run(env: dict[str, str], params: dict, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "prefect", "deployment", "run", "knowrl/full", "--params", json.dumps(params)]
    return subprocess.run(
        [*command, *extra, "--watch", "--watch-timeout", "1200"],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=1260,
    )


@pytest.fixture
def stack_home() -> Iterator[Path]:
    """The stack's home, outside pytest's temporary root: that root is mode 0700 and pytest resets it whenever a
    session starts, while PostgreSQL (as root we run it as an unprivileged user) must traverse to its data folder."""
    home = Path(tempfile.mkdtemp(prefix="knowrl-stack-"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def distributed_stack(stack_home: Path, tmp_path: Path):
    pytest.importorskip("moto", reason="needs the stack extra (pip install -e '.[stack]')")
    pytest.importorskip("pgserver", reason="needs the stack extra (pip install -e '.[stack]')")
    pytest.importorskip("duckdb_extension_ducklake", reason="needs the remote extra (pip install -e '.[remote]')")
    port = free_port()
    env = {
        **os.environ,
        "KNOWRL_HOME": str(stack_home),  # the stack's own state and logs; workers get their own homes under it
        "PREFECT_HOME": str(tmp_path / "prefect"),
        **fault_env("grpo@checkpoint"),  # GRPO fails right after its first checkpoint (tests/faults/inject.py)
        "PREFECT_LOGGING_LEVEL": "INFO",
        "KNOWRL_REPO": str(REPO_ROOT),
        "PREFECT_WORKER_QUERY_SECONDS": "2",  # workers poll every 2 s (default 10): each stage is a flow run here
    }
    for name in ("PREFECT_API_URL", "PREFECT_API_AUTH_STRING", "KNOWRL_ARTIFACTS_URL", "KNOWRL_WAREHOUSE_URL",
                 "KNOWRL_REMOTE_STAGES"):  # fmt: skip
        env.pop(name, None)
    up = subprocess.run(
        [*KNOWRL, "stack", "up", "--distributed", "--port", str(port)],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
    )
    env["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        # The server asks for the stack's secret (0600 in <KNOWRL_HOME>/stack/api-auth): the `prefect` CLI below
        # sends it as the operator's shell would, with the exports `stack up` printed.
        env.update(shell_exports(up.stdout, env))
        assert env["PREFECT_API_URL"] == f"http://127.0.0.1:{port}/api"
        yield env
    finally:
        down = subprocess.run([*KNOWRL, "stack", "down"], env=env, capture_output=True, text=True, timeout=180)
        assert down.returncode == 0, down.stderr


def test_rerun_on_a_fresh_gpu_worker_resumes_from_the_object_store(distributed_stack, tmp_path: Path) -> None:
    env = distributed_stack
    workers = _stack_dir(env) / "workers"
    # Nothing shared but the network: each worker has its own home, and data + results are in S3 and PostgreSQL.
    assert (workers / "cpu").is_dir() and (workers / "gpu").is_dir()

    failed = _deployment_run(env, {"overrides": SMALL})
    assert failed.returncode != 0 and "Failed" in failed.stdout, failed.stdout[-1500:] + _worker_logs(env)
    probe = tmp_path / "probe-home"
    before = _stage_runs(env, probe)  # every stage before grpo ran once (whatever stages the pipeline has there)
    assert {"data", "knowledge", "sft"} <= set(before) and set(before.values()) == {1}, before
    assert not {"grpo", "evaluate", "publish"} & set(before), before
    gpu_log = (_stack_dir(env) / "worker-gpu.log").read_text()
    assert "injected failure in stage grpo after checkpoint-1" in gpu_log
    old_gpu_home = workers / "gpu" / "knowrl-home"
    assert any((old_gpu_home / "runs").glob("grpo-*/checkpoint-1")), "the failed run kept its checkpoint locally"

    # The gpu machine is gone with its disk; a new one starts with an empty home.
    fresh = subprocess.run(
        [*KNOWRL, "stack", "worker", "gpu", "--fresh-home"], env=env, capture_output=True, text=True, timeout=120
    )
    assert fresh.returncode == 0, fresh.stderr
    assert not list((old_gpu_home / "runs").glob("grpo-*"))

    rerun = _deployment_run(env, {"overrides": SMALL}, "-p", "from_stage=grpo")
    assert rerun.returncode == 0, rerun.stdout[-1500:] + _worker_logs(env)
    # The stages before grpo were not run again; grpo onwards ran once each.
    runs = _stage_runs(env, probe)
    assert runs == {**before, "grpo": 1, "evaluate": 1, "publish": 1}
    grpo = _query(env, probe, "result = StageRuns(warehouse).latest('grpo')['ref']['metrics']")
    assert grpo["resumed_from"] == "checkpoint-1" and grpo["steps"] == 2  # type: ignore[index]
    assert "from the checkpoint mirror" in (_stack_dir(env) / "worker-gpu.log").read_text()

    # Once more, unchanged: every stage is a cache hit, also sft/grpo/evaluate on the fresh gpu worker, whose own
    # home never held their results (Prefect's cache records are in the bucket).
    again = _deployment_run(env, {"overrides": SMALL})
    assert again.returncode == 0, again.stdout[-1500:] + _worker_logs(env)
    assert _stage_runs(env, probe) == runs

    # The publish bundle (dry run) is an artifact in the object store, its manifest written last.
    import boto3

    worker_env = _worker_env(env)
    client = boto3.client(
        "s3",
        endpoint_url=worker_env["AWS_ENDPOINT_URL"],
        aws_access_key_id=worker_env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=worker_env["AWS_SECRET_ACCESS_KEY"],
        region_name=worker_env["AWS_REGION"],
    )
    keys = [
        o["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket="knowrl")
        for o in page.get("Contents", [])
    ]
    bundles = {k.split("/")[2] for k in keys if k.startswith("knowrl/publish/") and k.endswith("/manifest.json")}
    published = _query(env, probe, "result = StageRuns(warehouse).latest('publish')['ref']['artifact_id']")
    assert published in bundles
    assert any(k.startswith("knowrl/prefect-results/") for k in keys)  # Prefect's cache records, for every worker
