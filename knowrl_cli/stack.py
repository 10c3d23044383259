"""`knowrl stack up|down|status`: a local Prefect server, the cpu and gpu work pools, the deployments from
prefect.yaml, and a process worker, for trying `prefect deployment run knowrl/full` on one machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import typer

from knowrl.errors import KnowrlError
from storage import Paths


class StackError(KnowrlError):
    """A step of `knowrl stack` failed at run time (not a bad option): the message says which and where to look."""


app = typer.Typer(help="Start and stop a local Prefect stack (server, work pools, deployments, worker).")
REPO_ROOT = Path(__file__).resolve().parents[1]
POOLS = ("cpu", "gpu")


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


@app.command()
def up(
    port: int = typer.Option(4200, help="port of the Prefect server on 127.0.0.1"),
    gpu_worker: bool = typer.Option(False, help="also start a worker on the gpu pool"),
    timeout: float = typer.Option(90.0, help="seconds to wait for the server to become healthy"),
) -> None:
    """Start the server, create the work pools, deploy everything in prefect.yaml, start worker(s)."""
    try:
        _up(port, gpu_worker, timeout)
    except StackError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _up(port: int, gpu_worker: bool, timeout: float) -> None:
    api_url = f"http://127.0.0.1:{port}/api"
    env = _env(api_url)
    if not _healthy(api_url):
        _spawn("server", [*_prefect(), "server", "start", "--host", "127.0.0.1", "--port", str(port)], env)
        deadline = time.monotonic() + timeout
        while not _healthy(api_url):
            if time.monotonic() > deadline:
                raise StackError(f"server not healthy after {timeout}s; see {_stack_dir() / 'server.log'}")
            time.sleep(1)
    for pool in POOLS:
        if _run([*_prefect(), "work-pool", "inspect", pool], env, check=False).returncode != 0:
            _run([*_prefect(), "work-pool", "create", pool, "--type", "process"], env)
    _run([*_prefect(), "--no-prompt", "deploy", "--all"], env)
    # Tasks tagged "gpu" (sft, grpo, evaluate) never run two at a time; exists already on a second `up`.
    _run([*_prefect(), "concurrency-limit", "create", "gpu", "1"], env, check=False)
    _spawn("worker-cpu", [*_prefect(), "worker", "start", "--pool", "cpu"], env)
    if gpu_worker:
        _spawn("worker-gpu", [*_prefect(), "worker", "start", "--pool", "gpu"], env)
    typer.echo(
        f"Prefect stack up. In your shell:\n  export PREFECT_API_URL={api_url}\n"
        "  prefect deployment run knowrl/full --watch\nUI: " + api_url.removesuffix("/api")
    )


@app.command()
def down() -> None:
    """Stop the worker(s) (SIGTERM) and the server (SIGINT), as started by `up`."""
    directory = _stack_dir()
    for name, sig in (("worker-gpu", signal.SIGTERM), ("worker-cpu", signal.SIGTERM), ("server", signal.SIGINT)):
        pid_file = directory / f"{name}.pid"
        if not pid_file.exists():
            continue
        pid = int(pid_file.read_text())
        try:
            os.killpg(pid, sig)
            for _ in range(30):
                os.kill(pid, 0)
                time.sleep(0.5)
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        pid_file.unlink(missing_ok=True)
        typer.echo(f"stopped {name} (pid {pid})")


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
        typer.echo(f"{pid_file.stem}: pid {pid} {alive}")
