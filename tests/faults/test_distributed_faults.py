"""Service faults and strangers on the distributed stack (`knowrl stack up --distributed`: PostgreSQL, an S3 server,
the Prefect server on PostgreSQL, a cpu and a gpu worker with homes of their own), probed as an operator would:
real signals to the real processes (SIGSTOP, kill -9 by PID) while the gpu worker runs SFT from the `knowrl/sft`
deployment, requests with no or a wrong secret, and a grep for the stack's secrets in everything it stored.

One stack for the module (`fault_stack`, tests/faults/conftest.py); the probes run in file order. A probe stops
SFT at a point of its own (tests/faults/inject.py, action `hold`: the gpu worker's flow run waits there until the
test lets it go), breaks a service, lets the stage meet it, and reads the outcome from the server, the warehouse
and the bucket. Each SFT run differs in `sft.max_steps`, so none is a cache hit of another.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import datetime

import pytest

from tests.conftest import REPO_ROOT
from tests.faults.distributed import DistributedStack

pytestmark = pytest.mark.slow

PAUSE_S = 10  # SIGSTOP this long: longer than a training step, shorter than a client's timeout (60 s)
SFT = ["sft.save_steps=1", "sft.logging_steps=1", "sft.sample_prompts=0"]
TOOK_SLOT = re.compile(r"Task run '([^']+)' - took the gpu slot after ([\d.]+) s \(lease ([0-9a-f-]+)")


def sft(steps: int) -> dict:
    return {"overrides": [f"sft.max_steps={steps}", *SFT]}


def _slot_takes(stack: DistributedStack) -> list[tuple[str, float, str]]:
    """(task run, seconds waited, lease id) of every "took the gpu slot" line in the gpu worker's log."""
    return [(m[1], float(m[2]), m[3]) for m in TOOK_SLOT.finditer(stack.log("worker-gpu"))]


def _expiry(stack: DistributedStack, lease_id: str) -> datetime | None:
    lease = stack.leases().get(lease_id)
    return datetime.fromisoformat(lease["expiration"]) if lease else None


def _renewed_past(stack: DistributedStack, lease_id: str, expiry: datetime | None, timeout: float) -> datetime | None:
    """The lease's expiry once a renewal moved it past `expiry` (None if none did within `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = _expiry(stack, lease_id)
        if now is not None and expiry is not None and now > expiry:
            return now
        time.sleep(0.5)
    return None


def _wait_slot_free(stack: DistributedStack, timeout: float) -> float | None:
    """Seconds until the server counts no gpu slot (None if it still does after `timeout`)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with contextlib.suppress(Exception):
            if stack.gpu_slot()["active"] == 0:
                return time.monotonic() - started
        time.sleep(1)
    return None


def test_a_stranger_without_the_secret_is_refused(fault_stack: DistributedStack, tmp_path, record) -> None:
    stack = fault_stack
    full = stack.ok("GET", "/deployments/name/knowrl/full")["id"]
    answers = {
        "GET /health, no secret": stack.api("GET", "/health", auth=None).status_code,
        "POST /flow_runs/filter, no secret": stack.api("POST", "/flow_runs/filter", auth=None, json={}).status_code,
        "create a run of knowrl/full, no secret": stack.api(
            "POST", f"/deployments/{full}/create_flow_run", auth=None, json={}
        ).status_code,
        "create a run, wrong secret": stack.api(
            "POST", f"/deployments/{full}/create_flow_run", auth="knowrl:guessed", json={}
        ).status_code,
        "POST /deployments/filter, the secret": stack.api("POST", "/deployments/filter", json={}).status_code,
    }
    record(
        "a request to the API without the secret (or a wrong one)",
        "401, only GET /health answers",
        "; ".join(f"{what}: {code}" for what, code in answers.items()),
    )
    assert answers == {
        "GET /health, no secret": 200,
        "POST /flow_runs/filter, no secret": 401,
        "create a run of knowrl/full, no secret": 401,
        "create a run, wrong secret": 401,
        "POST /deployments/filter, the secret": 200,
    }

    # A worker started with a wrong secret, as one on a machine that was not given it.
    name = f"stranger-{uuid.uuid4().hex[:8]}"
    env = {**stack.worker_env, "PREFECT_API_AUTH_STRING": "knowrl:guessed", "PREFECT_HOME": str(tmp_path / "home")}
    started = time.monotonic()
    stranger = subprocess.run(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", "gpu", "--type", "process", "--name", name],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    seconds = time.monotonic() - started
    workers = [w["name"] for w in stack.ok("POST", "/work_pools/gpu/workers/filter", json={})]
    said = "401 Unauthorized" in stranger.stdout + stranger.stderr
    record(
        "a gpu worker started with a wrong secret",
        "cannot register or pick up work",
        f"exit {stranger.returncode} after {seconds:.1f} s, '401 Unauthorized' {'in' if said else 'not in'} its "
        f"output, {'listed' if name in workers else 'not listed'} among the pool's workers",
    )
    assert stranger.returncode != 0 and said, stranger.stdout[-2000:] + stranger.stderr[-2000:]
    assert name not in workers


def test_postgres_and_s3_paused_and_the_server_killed_during_a_gpu_stage(fault_stack: DistributedStack, record):
    stack = fault_stack
    stack.gpu_worker("mirror.before-upload", "sft.after-checkpoint-1", "sft.after-checkpoint-2")
    # Started the way the README says, watched with --watch: the watch's view of a server restart is recorded.
    watch_log = stack.home / "watch.log"
    command = [sys.executable, "-m", "prefect", "deployment", "run", "knowrl/sft", "--params", json.dumps(sft(3))]
    with watch_log.open("w") as out:
        watch = subprocess.Popen(
            [*command, "--watch", "--watch-timeout", "600"], env=stack.env, cwd=REPO_ROOT, stdout=out, stderr=out
        )
    try:
        assert stack.wait_for_point() == "mirror.before-upload"  # checkpoint-1 saved, its upload next
        task_run, waited, lease = _slot_takes(stack)[-1]
        expiries = [_expiry(stack, lease)]
        s3_paused = time.monotonic()
        with stack.paused("s3", PAUSE_S):
            stack.release()
        upload_done_point = stack.wait_for_point()  # the upload went through once the S3 server went on
        s3_seconds = time.monotonic() - s3_paused
        assert upload_done_point == "sft.after-checkpoint-1"
        expiries.append(_expiry(stack, lease))

        with stack.paused("postgres", PAUSE_S):
            stack.release()
        assert stack.wait_for_point() == "sft.after-checkpoint-2"
        expiries.append(_expiry(stack, lease))

        stack.kill_tree("server")  # kill -9, as a crash or an OOM kill would
        time.sleep(5)
        restarted = stack.knowrl("stack", "server").stdout.strip()
        slot_after_restart = stack.gpu_slot()  # the restarted server read its leases back from disk
        kept = _renewed_past(stack, lease, expiries[-1], timeout=2 * 15)  # the stage renews it with the new server
        stack.release()
        run_id = re.search(r"UUID: ([0-9a-f-]{36})", watch_log.read_text())[1]
        state = stack.wait_run(run_id, timeout=300)
        freed = _wait_slot_free(stack, timeout=30)
        with contextlib.suppress(subprocess.TimeoutExpired):
            watch.wait(timeout=60)
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
    watched = watch_log.read_text()
    stream_lost = "stream closed unexpectedly" in watched
    renewed = [e.strftime("%H:%M:%S") if e else "-" for e in [*expiries, kept]]

    record(
        f"S3 server paused (SIGSTOP {PAUSE_S} s) during a checkpoint upload of SFT",
        "the upload waits, then completes; the stage goes on",
        f"checkpoint-1's upload done {s3_seconds:.1f} s after the pause began; run {state['name']}",
    )
    record(
        f"PostgreSQL paused (SIGSTOP {PAUSE_S} s, every backend) during SFT",
        "the stage waits, then completes",
        f"run {state['name']}",
    )
    record(
        "Prefect server kill -9 during SFT holding the gpu slot, restarted 5 s later (`knowrl stack server`)",
        "the run completes; its lease survives and is renewed; the slot is freed after",
        f"{restarted.split(': ', 1)[-1]}; lease {lease[:8]} {'kept and renewed' if kept else 'NOT RENEWED'} (slot "
        f"{slot_after_restart['active']}/{slot_after_restart['limit']} held by {len(slot_after_restart['holders'])} "
        f"task run); run {state['name']}; "
        f"slot {'freed ' + format(freed, '.0f') + ' s after' if freed is not None else 'STILL HELD'}; "
        f"`--watch` exit {watch.returncode}{', stream closed unexpectedly' if stream_lost else ''}",
    )
    record(
        "the lease of a GPU stage while it runs (60 s, renewed every 15 s)",
        "its expiry moves on with the stage, through the server's restart",
        f"task run {task_run} took the slot after {waited:.1f} s; lease expiry at each stop: {', '.join(renewed)}",
    )
    assert state["type"] == "COMPLETED", f"{state}{stack.log_tails()}"
    assert slot_after_restart["holders"], "the restart lost the stage's lease"
    assert kept is not None, f"the lease was not renewed after the server's restart: {renewed}"
    # Renewed every 15 s: two stops less than that apart may read the same expiry, but it never goes back, it has
    # moved on over the stage, and a renewal after the restart moved it past what it was before the kill.
    assert None not in expiries and expiries == sorted(expiries) and expiries[-1] > expiries[0], renewed
    assert freed is not None, f"the gpu slot is still counted after the run: {stack.gpu_slot()}"


def test_s3_down_longer_than_the_retries_fails_cleanly_and_a_rerun_completes(fault_stack: DistributedStack, record):
    stack = fault_stack
    runs_before = stack.query("result = StageRuns(warehouse).latest('sft')['cache_key']")
    stack.gpu_worker("remote.before-marker")
    run_id = stack.start_run("knowrl/sft", sft(4))
    assert stack.wait_for_point() == "remote.before-marker"  # checkpoint-1's files uploaded, its marker next
    # The first GPU stage after the server's kill and restart (the probe before): no slot leaked to wait for.
    task_run, waited, _ = _slot_takes(stack)[-1]
    record(
        "the next GPU stage after the Prefect server's kill -9 and restart",
        "takes the gpu slot at once (no leaked slot to wait for)",
        f"task run {task_run} took the slot after {waited:.1f} s",
    )
    assert waited < 5, f"the next GPU stage waited {waited} s for the slot"
    # The outage of a store that keeps what it stored: what it holds now is what comes back.
    stored = stack.objects()
    stack.kill_tree("s3")
    down = time.monotonic()
    stack.release()
    state = stack.wait_run(run_id, timeout=600)
    failed_after = time.monotonic() - down
    back = stack.s3_back(stored)
    # The checkpoint whose marker never landed: its files are in the bucket, the mirror must not offer it.
    half = sorted({k.split("/")[2] for k in stored if k.startswith("knowrl/checkpoints/") and "/checkpoint-1/" in k}
                  - {k.split("/")[2] for k in stored if k.endswith("/checkpoint-1/KNOWRL_COMPLETE")})  # fmt: skip
    assert len(half) == 1, half
    mirror = (
        "import os\nfrom storage.checkpoints import CheckpointMirror\n"
        f"result = CheckpointMirror(os.environ['KNOWRL_ARTIFACTS_URL']).complete({half[0]!r})"
    )
    visible = stack.query(mirror)
    latest = stack.query("result = StageRuns(warehouse).latest('sft')['cache_key']")

    stack.gpu_worker()  # the same machine, its faults gone: it still has checkpoint-1 on its disk
    rerun = stack.wait_run(stack.start_run("knowrl/sft", sft(4)), timeout=300)
    mirrored_after = stack.query(mirror)
    message = state.get("message") or ""
    one_line = "\n" not in message.strip()
    names_bucket = "s3://knowrl" in message
    record(
        "S3 server down (killed) from a checkpoint's commit until the stage failed, then back with its data",
        "fails in one line naming the bucket; no half-written checkpoint visible; a rerun completes",
        f"{state['name']} {failed_after:.0f} s after the S3 server went: {message[:300]!r}; checkpoint-1 of "
        f"{half[0]}: files in the bucket, offered by the mirror: {visible}; no stage run recorded: "
        f"{latest == runs_before}; S3 back in {back:.1f} s; rerun {rerun['name']}, the mirror then offers "
        f"{mirrored_after}",
    )
    assert state["type"] == "FAILED", f"{state}{stack.log_tails()}"
    assert visible == [] and latest == runs_before
    assert rerun["type"] == "COMPLETED", f"{rerun}{stack.log_tails()}"
    assert mirrored_after, "the rerun mirrored no checkpoint"
    assert one_line and names_bucket, message


def test_the_gpu_worker_killed_during_sft_then_a_fresh_one_resumes(fault_stack: DistributedStack, record) -> None:
    stack = fault_stack
    stack.gpu_worker("sft.after-checkpoint-1")
    run_id = stack.start_run("knowrl/sft", sft(5))
    assert stack.wait_for_point() == "sft.after-checkpoint-1"  # checkpoint-1 saved and mirrored
    stack.kill_tree("worker-gpu")  # the machine is gone: the worker and its flow run, SIGKILL
    killed = time.monotonic()
    log_before = len(stack.log("worker-gpu"))
    stack.gpu_worker(fresh_home=True)  # a new machine with an empty disk
    rerun_id = stack.start_run("knowrl/sft", sft(5))
    reclaimed = crashed = None
    state: dict = {}
    while (reclaimed is None or crashed is None) and time.monotonic() - killed < 300:
        if reclaimed is None and stack.gpu_slot()["active"] == 0:
            reclaimed = time.monotonic() - killed
        state = stack.run_state(run_id)
        if crashed is None and state.get("type") in ("CRASHED", "FAILED", "COMPLETED", "CANCELLED"):
            crashed = time.monotonic() - killed
        time.sleep(1)
    rerun = stack.wait_run(rerun_id, timeout=300)
    took = time.monotonic() - killed
    log = stack.log("worker-gpu")[log_before:]  # the fresh worker's
    resumed = "from the checkpoint mirror" in log and "sft: resuming from checkpoint-1" in log
    metrics = stack.query("result = StageRuns(warehouse).latest('sft')['ref']['metrics']")
    record(
        "gpu worker killed (SIGKILL, with its flow run) during SFT after checkpoint-1; rerun on a fresh worker",
        "the run ends Crashed; its slot is reclaimed; the rerun resumes from the mirrored checkpoint",
        f"run {state.get('name')} {crashed and format(crashed, '.0f')} s after the kill ({state.get('message')!r}); "
        f"gpu slot reclaimed after {reclaimed and format(reclaimed, '.0f')} s; rerun (queued at once) "
        f"{rerun['name']} {took:.0f} s after the kill, resumed from {metrics.get('resumed_from')} (mirror: {resumed})",
    )
    assert state.get("type") == "CRASHED", f"{state}{stack.log_tails()}"
    assert reclaimed is not None
    assert rerun["type"] == "COMPLETED", f"{rerun}{stack.log_tails()}"
    assert resumed and metrics["resumed_from"] == "checkpoint-1"


def test_no_secret_is_stored_anywhere_but_its_private_files(fault_stack: DistributedStack, record) -> None:
    stack = fault_stack
    env = stack.worker_env
    secrets = {
        "API secret": stack.auth.split(":", 1)[1],
        "PostgreSQL password": env["PGPASSWORD"],
        "S3 secret key": env["AWS_SECRET_ACCESS_KEY"],
    }
    private = {"api-auth", "worker.env", "server.env"}
    modes = {name: oct((stack.dir / name).stat().st_mode & 0o777) for name in sorted(private)}
    places: dict[str, str] = {}
    for path in stack.home.rglob("*"):  # logs, the workers' homes, the server's home and its leases
        if path.is_file() and path.name not in private and "pgdata" not in path.parts:
            places[f"file {path.relative_to(stack.home)}"] = path.read_bytes().decode("latin-1")
    for key, body in stack.objects().items():  # artifacts, checkpoints, lake files, Prefect's results
        places[f"s3 {key}"] = body.decode("latin-1")
    # Flow runs' parameters, logs, artifacts, events, blocks, variables: all in Prefect's database.
    places["database prefect"] = stack.pg_dump("prefect")
    places["database knowrl (lake catalog)"] = stack.pg_dump("knowrl")
    tables = (
        "names = [r['name'] for r in warehouse.query(\"SELECT table_name AS name FROM information_schema.tables "
        "WHERE table_catalog = 'lake'\")]\n"
        "result = {t: [list(map(str, r.values())) for r in warehouse.query(f'SELECT * FROM {t}')] for t in names}"
    )
    rows = stack.query(tables)
    places["warehouse rows"] = json.dumps(rows)
    found = sorted(f"{what} in {where}" for where, text in places.items() for what, s in secrets.items() if s in text)
    record(
        "the stack's secrets (API, PostgreSQL, S3) in logs, homes, bucket, Prefect's database, warehouse",
        "only in their 0600 files",
        f"searched {len(places)} places ({sum(len(v) for v in rows.values())} warehouse rows in {len(rows)} tables): "
        f"{found or 'none found'}; modes {modes}",
    )
    assert rows and found == []
    assert set(modes.values()) == {"0o600"}
    assert os.environ.get("PREFECT_API_AUTH_STRING") != stack.auth  # the test process itself never exported it
