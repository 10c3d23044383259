"""The distributed stack (`knowrl stack up --distributed`) as the fault suite drives it: its processes by PID, its
API with and without the secret, runs of its deployments, the fault points of its gpu worker, its S3 server's
content.

Everything goes through the stack's own files under `<KNOWRL_HOME>/stack/` (PID files, the 0600 credential files)
and real signals to real processes; nothing is mocked.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from knowrl_cli.local_services import MotoS3Server, free_port
from tests.conftest import REPO_ROOT
from tests.faults.inject import ACTION_ENV, FAULTS_ENV, MARKER_ENV, fault_env

KNOWRL = [sys.executable, "-m", "knowrl_cli"]
BUCKET = "knowrl"
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def shell_exports(printed: str, env: dict[str, str]) -> dict[str, str]:
    """The `export NAME=...` lines `knowrl stack up` printed for the operator's shell, run by bash as pasted there
    (`PREFECT_API_AUTH_STRING="$(cat <KNOWRL_HOME>/stack/api-auth)"`): what an operator's `prefect` CLI then sends."""
    lines = [line.strip() for line in printed.splitlines() if line.strip().startswith("export ")]
    names = [line.removeprefix("export ").split("=", 1)[0] for line in lines]
    assert "PREFECT_API_AUTH_STRING" in names, f"`knowrl stack up` says nothing of the API's secret:\n{printed}"
    script = "\n".join([*lines, 'printf "%s\\0" ' + " ".join(f'"${name}"' for name in names)])
    done = subprocess.run(["bash", "-euc", script], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, f"the printed exports fail in bash: {done.stderr}"
    return dict(zip(names, done.stdout.split("\0")[: len(names)], strict=True))


@dataclass
class DistributedStack:
    """One `knowrl stack up --distributed` in `home`; `env` is the operator's shell (API URL and secret set)."""

    home: Path
    env: dict[str, str]
    port: int
    down_output: str = ""

    @property
    def dir(self) -> Path:
        return self.home / "stack"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def auth(self) -> str:
        return (self.dir / "api-auth").read_text().strip()

    @property
    def worker_env(self) -> dict[str, str]:
        """What the stack gives its workers: the remote storage profile and every credential."""
        return {**self.env, **_env_file(self.dir / "worker.env")}

    @property
    def marker(self) -> Path:
        return self.home / "fault-point.json"

    # -- processes -------------------------------------------------------------------------------------------------

    def pid(self, name: str) -> int:
        return int((self.dir / f"{name}.pid").read_text())

    def signal_group(self, name: str, sig: int) -> None:
        """`sig` to the service's process group (PostgreSQL: the postmaster and every backend)."""
        os.killpg(self.pid(name), sig)

    @contextlib.contextmanager
    def paused(self, name: str, seconds: float) -> Iterator[None]:
        """SIGSTOP the service's process group, run the block, wait out `seconds` in all, then SIGCONT."""
        started = time.monotonic()
        self.signal_group(name, signal.SIGSTOP)
        try:
            yield
            time.sleep(max(0.0, seconds - (time.monotonic() - started)))
        finally:
            self.signal_group(name, signal.SIGCONT)

    def kill_tree(self, name: str) -> None:
        """SIGKILL the process and everything under it, as when its machine dies."""
        root = psutil.Process(self.pid(name))
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs([root], timeout=10)

    def knowrl(self, *args: str, timeout: float = 180, **env: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*KNOWRL, *args], env={**self.env, **env}, capture_output=True, text=True, cwd=REPO_ROOT, timeout=timeout
        )
        assert done.returncode == 0, f"knowrl {' '.join(args)}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        return done

    def gpu_worker(self, *points: str, fresh_home: bool = False) -> None:
        """A new gpu worker whose flow runs hold at `points` (tests/faults/inject.py, action `hold`)."""
        faults = {**fault_env(",".join(points)), ACTION_ENV: "hold", MARKER_ENV: str(self.marker)} if points else {}
        env = {FAULTS_ENV: "", **faults}
        self.knowrl("stack", "worker", "gpu", *(["--fresh-home"] if fresh_home else []), **env)

    def log(self, name: str) -> str:
        path = self.dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def log_tails(self) -> str:
        """The end of every stack log, for a failure message (the stack's folder is removed after the module)."""
        tails = []
        for name in ("worker-gpu", "worker-cpu", "server"):
            lines = self.log(name).splitlines()[-30:]
            tails.append(f"\n--- {name} (last lines) ---\n" + "\n".join(line[:300] for line in lines))
        return "".join(tails)

    # -- the fault points of the gpu worker ------------------------------------------------------------------------

    def wait_for_point(self, timeout: float = 240) -> str:
        """Wait until a flow run stands at a fault point; its name."""
        deadline = time.monotonic() + timeout
        while not self.marker.exists():
            if time.monotonic() > deadline:
                raise AssertionError(f"no fault point reached in {timeout} s{self.log_tails()}")
            time.sleep(0.1)
        point = json.loads(self.marker.read_text())["point"]
        self.marker.unlink()
        return point

    def release(self) -> None:
        Path(f"{self.marker}.release").touch()

    # -- the API ---------------------------------------------------------------------------------------------------

    def api(self, method: str, path: str, auth: str | bool | None = True, **kwargs: Any) -> httpx.Response:
        """A request to the API; `auth` True: the stack's secret, a string: that one, None/False: none."""
        secret = self.auth if auth is True else auth or None
        user, _, password = secret.partition(":") if secret else ("", "", "")
        return httpx.request(
            method, f"{self.api_url}{path}", auth=(user, password) if secret else None, timeout=30, **kwargs
        )

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.api(method, path, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def start_run(self, deployment: str, parameters: dict[str, Any]) -> str:
        """A flow run of `flow/deployment`, as `prefect deployment run` creates it; its id."""
        flow, name = deployment.split("/")
        found = self.ok("GET", f"/deployments/name/{flow}/{name}")
        return self.ok("POST", f"/deployments/{found['id']}/create_flow_run", json={"parameters": parameters})["id"]

    def run_state(self, run_id: str) -> dict[str, Any]:
        return self.ok("GET", f"/flow_runs/{run_id}")["state"] or {}

    def wait_run(self, run_id: str, timeout: float = 300) -> dict[str, Any]:
        """The run's final state (name, type, message); riding out a server that is away for a while."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                state = self.run_state(run_id)
                if state.get("type") in FINAL:
                    return state
            time.sleep(1)
        raise AssertionError(f"flow run {run_id} not final after {timeout} s{self.log_tails()}")

    def gpu_slot(self) -> dict[str, Any]:
        """The `tag:gpu` limit as the server counts it, and its holders' task run ids."""
        limit = self.ok("GET", "/v2/concurrency_limits/tag:gpu")
        holders = self.ok("GET", "/concurrency_limits/tag/gpu")["active_slots"]
        return {"active": limit["active_slots"], "limit": limit["limit"], "holders": holders}

    def leases(self) -> dict[str, dict[str, Any]]:
        """The server's concurrency leases on disk (filesystem lease storage): id -> lease."""
        folder = self.dir / "server-prefect-home" / "concurrency_leases"
        leases = {}
        for path in folder.glob("*.json") if folder.exists() else []:
            if path.name != "expirations.json":
                with contextlib.suppress(OSError, ValueError):
                    leases[path.stem] = json.loads(path.read_text())
        return leases

    # -- the S3 server ---------------------------------------------------------------------------------------------

    def s3_client(self) -> Any:
        import boto3

        env = self.worker_env
        return boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_REGION"],
        )

    def objects(self) -> dict[str, bytes]:
        client = self.s3_client()
        keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
                for o in page.get("Contents", [])]  # fmt: skip
        return {key: client.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys}

    def s3_back(self, objects: dict[str, bytes]) -> float:
        """A new S3 server on the old port holding `objects` (what the killed one had stored: an outage of a store
        that keeps its data), in place of the stack's; the seconds it took."""
        started = time.monotonic()
        port = int(self.worker_env["AWS_ENDPOINT_URL"].rsplit(":", 1)[1])
        workdir = self.dir / f"s3-{int(time.time())}"
        workdir.mkdir()
        server = MotoS3Server(workdir, port=port, detach=True)
        (self.dir / "s3.pid").write_text(str(server.pid))  # `knowrl stack down` stops this one
        # A child of this test: reaped as soon as it exits, or `stack down` would wait out its grace on a zombie.
        threading.Thread(target=server.process.wait, daemon=True).start()
        client = self.s3_client()
        client.create_bucket(Bucket=BUCKET)
        for key, body in objects.items():
            client.put_object(Bucket=BUCKET, Key=key, Body=body)
        return time.monotonic() - started

    # -- the warehouse and Prefect's database ---------------------------------------------------------------------

    def query(self, code: str) -> Any:
        """Run `code` (which sets `result`) against the shared warehouse in a fresh process with the workers' env."""
        program = (
            "import json, sys\nfrom storage import Paths, open_warehouse\nfrom storage.stage_runs import StageRuns\n"
            "warehouse = open_warehouse(Paths.from_env(sys.argv[1]), read_only=True)\n"
            f"{code}\nprint(json.dumps(result, default=str))"
        )
        probe_home = self.home / "probe-home"
        out = subprocess.run(
            [sys.executable, "-c", program, str(probe_home)],
            env=self.worker_env,
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    def pg_dump(self, database: str) -> str:
        """The whole database as SQL text (everything the Prefect server or the lake's catalog stored)."""
        from knowrl_cli.local_services import postgres_bin

        env = self.worker_env
        url = env["KNOWRL_WAREHOUSE_URL"]  # ducklake:postgres:dbname=knowrl host=... port=... user=...
        fields = dict(part.split("=", 1) for part in url.split(":", 2)[2].split())
        command = [str(postgres_bin() / "pg_dump"), "-h", fields["host"], "-p", fields["port"], "-U", fields["user"]]
        done = subprocess.run(
            [*command, "-d", database], env={**os.environ, "PGPASSWORD": env["PGPASSWORD"]}, capture_output=True
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.decode(errors="replace")


@contextlib.contextmanager
def distributed_stack() -> Iterator[DistributedStack]:
    """`knowrl stack up --distributed` in a fresh folder (outside pytest's temporary root: that root is mode 0700,
    and PostgreSQL, run as an unprivileged user when we are root, must traverse to its data folder), stopped with
    `knowrl stack down` and removed at the end."""
    pytest.importorskip("moto", reason="needs the stack extra (pip install -e '.[stack]')")
    pytest.importorskip("pgserver", reason="needs the stack extra (pip install -e '.[stack]')")
    pytest.importorskip("duckdb_extension_ducklake", reason="needs the remote extra (pip install -e '.[remote]')")
    home = Path(tempfile.mkdtemp(prefix="knowrl-faults-stack-"))
    port = free_port()
    env = {
        **os.environ,
        "KNOWRL_HOME": str(home),
        "PREFECT_HOME": str(home / "operator-prefect-home"),
        "PREFECT_LOGGING_LEVEL": "INFO",
        "KNOWRL_REPO": str(REPO_ROOT),
        "PREFECT_WORKER_QUERY_SECONDS": "2",  # workers poll every 2 s (default 10)
        "KNOWRL_NUM_THREADS": "1",
    }
    for name in ("PREFECT_API_URL", "PREFECT_API_AUTH_STRING", "KNOWRL_ARTIFACTS_URL", "KNOWRL_WAREHOUSE_URL"):
        env.pop(name, None)
    env.pop("KNOWRL_REMOTE_STAGES", None)
    env.pop(FAULTS_ENV, None)
    up = subprocess.run(
        [*KNOWRL, "stack", "up", "--distributed", "--port", str(port)],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
    )
    stack = DistributedStack(home, env, port)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        env.update(shell_exports(up.stdout, env))  # as the operator's shell, told by `stack up`
        assert env["PREFECT_API_URL"] == stack.api_url and env["PREFECT_API_AUTH_STRING"] == stack.auth
        yield stack
    finally:
        # Flow-run processes run in process groups of their own: whatever `down` leaves is stopped here, by PID.
        left = [child for pid_file in stack.dir.glob("*.pid") for child in _descendants(int(pid_file.read_text()))]
        down = subprocess.run([*KNOWRL, "stack", "down"], env=env, capture_output=True, text=True, timeout=180)
        stack.down_output = down.stdout
        for proc in left:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        shutil.rmtree(home, ignore_errors=True)


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []
