"""`knowrl stack up|down|status|worker`: a Prefect stack on this machine, for `prefect deployment run knowrl/full`.

Two shapes:
- one box (default): a Prefect server on SQLite, the cpu and gpu work pools, the deployments of prefect.yaml and
  process workers that share this machine's KNOWRL_HOME (the local storage profile);
- `--distributed`: what a cluster looks like, on loopback: PostgreSQL (the Prefect server's database and the
  DuckLake catalog), an S3-compatible server (artifacts, checkpoints, lake files, Prefect results), the Prefect
  server on PostgreSQL, a `cpu` and a `gpu` worker, each with its own empty KNOWRL_HOME and PREFECT_HOME: nothing
  is shared but the network. The cpu worker sends sft, grpo and evaluate of `knowrl/full` to the gpu pool.

Every process is started detached (it outlives this command) with its log and PID under `<KNOWRL_HOME>/stack/`, and
stopped by that PID. We start the Prefect server ourselves rather than with `prefect server start --background`:
that pipes the server's output into a pipe nobody reads (the server stalls once ~64 KiB of log fill it) and keeps no
log file.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import typer

from knowrl.errors import KnowrlError
from knowrl.registry import REGISTRY
from storage import Paths


class StackError(KnowrlError):
    """A step of `knowrl stack` failed at run time (not a bad option): the message says which and where to look."""


app = typer.Typer(help="Start and stop a local Prefect stack (server, work pools, deployments, workers).")
REPO_ROOT = Path(__file__).resolve().parents[1]
POOLS = ("cpu", "gpu")
GPU_STAGES = ",".join(spec.name for spec in REGISTRY if spec.gpu)  # sent to the gpu pool
BUCKET = "knowrl"
STATE = "distributed.json"
WORKER_ENV = "worker.env"
# Stop order: workers first (they hold flow runs), then the server, then what the server and workers write to.
STOP_ORDER = (
    ("worker-gpu", signal.SIGTERM),
    ("worker-cpu", signal.SIGTERM),
    ("server", signal.SIGINT),
    ("postgres", signal.SIGINT),  # PostgreSQL's "fast" shutdown
    ("s3", signal.SIGTERM),
)


@contextlib.contextmanager
def _one_line_errors() -> Iterator[None]:
    """A failed step prints one line (what failed, where its log is) and exits 1: not typer's 'Invalid value'."""
    try:
        yield
    except StackError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _stack_dir() -> Path:
    directory = Paths.from_env().ensure().root / "stack"
    directory.mkdir(exist_ok=True)
    return directory


def _prefect() -> list[str]:
    return [sys.executable, "-m", "prefect"]


def _env(api_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PREFECT_API_URL=api_url, PREFECT_SERVER_ANALYTICS_ENABLED="false")
    env.setdefault("KNOWRL_HOME", str(Paths.from_env().root))
    env.setdefault("KNOWRL_REPO", str(REPO_ROOT))  # prefect.yaml's pull step: where workers run the code
    return env


def _spawn(name: str, args: list[str], env: dict[str, str]) -> int:
    directory = _stack_dir()
    log = (directory / f"{name}.log").open("ab")
    # A new session: the process outlives this command and is stopped by `knowrl stack down`.
    process = subprocess.Popen(
        args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT, start_new_session=True
    )
    (directory / f"{name}.pid").write_text(str(process.pid))
    return process.pid


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _run(args: list[str], env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, env=env, cwd=REPO_ROOT, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise StackError(f"{' '.join(args[2:])} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result


def _start_server(port: int, env: dict[str, str], timeout: float) -> None:
    api_url = env["PREFECT_API_URL"]
    if _healthy(api_url):
        return
    _spawn("server", [*_prefect(), "server", "start", "--host", "127.0.0.1", "--port", str(port)], env)
    deadline = time.monotonic() + timeout
    while not _healthy(api_url):
        if time.monotonic() > deadline:
            raise StackError(f"server not healthy after {timeout}s; see {_stack_dir() / 'server.log'}")
        time.sleep(1)


def _deploy(env: dict[str, str]) -> None:
    for pool in POOLS:
        _run([*_prefect(), "work-pool", "create", pool, "--type", "process", "--overwrite"], env)
    _run([*_prefect(), "--no-prompt", "deploy", "--all"], env)
    # Tasks tagged "gpu" (sft, grpo, evaluate) never run two at a time; exists already on a second `up`.
    _run([*_prefect(), "concurrency-limit", "create", "gpu", "1"], env, check=False)


@app.command()
def up(
    port: int = typer.Option(4200, help="port of the Prefect server on 127.0.0.1"),
    gpu_worker: bool = typer.Option(False, help="one box: also start a worker on the gpu pool"),
    distributed: bool = typer.Option(
        False, help="PostgreSQL + S3 server + Prefect on PostgreSQL, cpu and gpu workers with their own homes"
    ),
    timeout: float = typer.Option(90.0, help="seconds to wait for the server to become healthy"),
) -> None:
    """Start the server, create the work pools, deploy everything in prefect.yaml, start worker(s)."""
    api_url = f"http://127.0.0.1:{port}/api"
    with _one_line_errors():
        if distributed:
            _up_distributed(port, timeout)
        else:
            env = _env(api_url)
            _start_server(port, env, timeout)
            _deploy(env)
            _spawn("worker-cpu", [*_prefect(), "worker", "start", "--pool", "cpu"], env)
            if gpu_worker:
                _spawn("worker-gpu", [*_prefect(), "worker", "start", "--pool", "gpu"], env)
    typer.echo(
        f"Prefect stack up. In your shell:\n  export PREFECT_API_URL={api_url}\n"
        "  prefect deployment run knowrl/full --watch\nUI: " + api_url.removesuffix("/api")
    )


# -- the distributed shape -----------------------------------------------------------------------------------------


def _services() -> Any:
    try:
        from knowrl_cli import local_services
    except ImportError as exc:  # moto or pgserver missing
        raise StackError(f"--distributed needs the stack extra: pip install -e '.[stack,remote]' ({exc})") from exc
    return local_services


def _write_private(path: Path, text: str) -> None:
    """A file only this user reads: the stack's generated credentials (a local stack, never a cluster's)."""
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)


def _up_distributed(port: int, timeout: float) -> None:
    if (_stack_dir() / STATE).exists():
        raise StackError(f"a distributed stack is already up ({_stack_dir() / STATE}); run `knowrl stack down` first")
    services = _services()
    directory = _stack_dir()
    for name in ("postgres", "s3"):
        shutil.rmtree(directory / name, ignore_errors=True)
        (directory / name).mkdir()
    try:  # Prefect's server migrations create the pg_trgm extension
        postgres = services.PostgresServer(directory / "postgres", detach=True, require=("pg_trgm",))
    except services.PostgresBinariesError as exc:
        raise StackError(str(exc)) from exc
    (directory / "postgres.pid").write_text(str(postgres.pid))
    s3 = services.MotoS3Server(directory / "s3", detach=True)
    (directory / "s3.pid").write_text(str(s3.pid))
    s3.create_bucket(BUCKET)
    for database in ("prefect", "knowrl"):
        postgres.create_database(database)
    # What every worker's environment carries (a cluster puts the same variables in the pool's job template or a
    # secret): the remote storage profile and its credentials. Kept in a 0600 file for `knowrl stack worker`.
    worker_env = {
        **s3.env,
        "PGPASSWORD": postgres.password,
        "KNOWRL_ARTIFACTS_URL": f"s3://{BUCKET}/knowrl",
        "KNOWRL_WAREHOUSE_URL": postgres.warehouse_url("knowrl"),
    }
    _write_private(directory / WORKER_ENV, "".join(f"{k}={v}\n" for k, v in worker_env.items()))
    api_url = f"http://127.0.0.1:{port}/api"
    state = {"api_url": api_url, "port": port, "bucket": BUCKET, "s3_endpoint": s3.endpoint}
    (directory / STATE).write_text(json.dumps(state, indent=1))
    server_env = {
        **_env(api_url),
        # The server's own database; the URL holds the password, so it goes into this process's environment only.
        "PREFECT_API_DATABASE_CONNECTION_URL": postgres.prefect_database_url("prefect"),
        "PREFECT_HOME": str(directory / "server-prefect-home"),
    }
    _start_server(port, server_env, timeout)
    _deploy(_env(api_url))
    for pool in POOLS:
        _start_worker(pool, fresh_home=True)


def _worker_env(pool: str) -> dict[str, str]:
    directory = _stack_dir()
    state = json.loads((directory / STATE).read_text())
    env = _env(state["api_url"])
    for line in (directory / WORKER_ENV).read_text().splitlines():
        key, _, value = line.partition("=")
        env[key] = value
    home = directory / "workers" / pool
    env.update(KNOWRL_HOME=str(home / "knowrl-home"), PREFECT_HOME=str(home / "prefect-home"))
    env.pop("KNOWRL_REMOTE_STAGES", None)
    if pool == "cpu":
        env["KNOWRL_REMOTE_STAGES"] = GPU_STAGES  # knowrl/full on the cpu worker sends these to the gpu pool
    return env


def _start_worker(pool: str, fresh_home: bool) -> int:
    directory = _stack_dir()
    home = directory / "workers" / pool
    if fresh_home:
        shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True, exist_ok=True)
    return _spawn(f"worker-{pool}", [*_prefect(), "worker", "start", "--pool", pool], _worker_env(pool))


def _stop(name: str, sig: int) -> int | None:
    pid_file = _stack_dir() / f"{name}.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text())
    try:
        os.killpg(pid, sig)  # the process group: a worker's flow-run subprocesses go with it
        for _ in range(60):
            os.kill(pid, 0)
            time.sleep(0.5)
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    except PermissionError:  # PostgreSQL runs as its own user when we are root: its group is not ours to signal
        from knowrl_cli.local_services import stop_pid

        stop_pid(pid, sig, timeout=30)
    pid_file.unlink(missing_ok=True)
    return pid


@app.command()
def worker(
    pool: str = typer.Argument(..., help="cpu or gpu"),
    fresh_home: bool = typer.Option(False, help="delete the worker's KNOWRL_HOME and PREFECT_HOME first"),
) -> None:
    """Distributed stack: stop a pool's worker and start a new one (with --fresh-home, as on a new machine)."""
    with _one_line_errors():
        if pool not in POOLS:
            raise StackError(f"unknown pool {pool!r}: pools are {', '.join(POOLS)}")
        if not (_stack_dir() / STATE).exists():
            raise StackError("no distributed stack is up here: start one with `knowrl stack up --distributed`")
    _stop(f"worker-{pool}", signal.SIGTERM)
    pid = _start_worker(pool, fresh_home)
    home = _stack_dir() / "workers" / pool
    typer.echo(f"worker-{pool}: pid {pid}, KNOWRL_HOME {home / 'knowrl-home'}{' (fresh)' if fresh_home else ''}")


@app.command()
def down() -> None:
    """Stop the workers (SIGTERM), the server (SIGINT) and, when distributed, PostgreSQL and the S3 server."""
    started = time.monotonic()

    def stop(name: str, sig: int) -> None:
        pid = _stop(name, sig)
        if pid is not None:
            typer.echo(f"stopped {name} (pid {pid}) after {time.monotonic() - started:.1f}s")

    # The workers together (each may take its whole grace period to shut down), then the services in order.
    workers = [(name, sig) for name, sig in STOP_ORDER if name.startswith("worker-")]
    with ThreadPoolExecutor(max_workers=len(workers)) as pool:
        list(pool.map(lambda item: stop(*item), workers))
    for name, sig in STOP_ORDER:
        if not name.startswith("worker-"):
            stop(name, sig)
    (_stack_dir() / STATE).unlink(missing_ok=True)
    (_stack_dir() / WORKER_ENV).unlink(missing_ok=True)


@app.command()
def status(port: int = typer.Option(4200)) -> None:
    """Whether the server answers and which stack processes are alive."""
    api_url = f"http://127.0.0.1:{port}/api"
    typer.echo(f"server {api_url}: {'healthy' if _healthy(api_url) else 'not answering'}")
    for pid_file in sorted(_stack_dir().glob("*.pid")):
        pid = int(pid_file.read_text())
        try:
            os.kill(pid, 0)
            alive = "running"
        except ProcessLookupError:
            alive = "gone"
        except PermissionError:
            alive = "running"
        typer.echo(f"{pid_file.stem}: pid {pid} {alive}")
