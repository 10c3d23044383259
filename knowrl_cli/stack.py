"""`knowrl stack up|down|status|worker`: a Prefect stack on this machine, for `prefect deployment run knowrl/full`.

Two shapes:
- one box (default): a Prefect server on SQLite, the cpu and gpu work pools, the deployments of prefect.yaml and
  process workers that share this machine's KNOWRL_HOME (the local storage profile);
- `--distributed`: what a cluster looks like, on loopback: PostgreSQL (the Prefect server's database and the
  DuckLake catalog), an S3-compatible server (artifacts, checkpoints, lake files, Prefect results), the Prefect
  server on PostgreSQL, a `cpu` and a `gpu` worker, each with its own empty KNOWRL_HOME and PREFECT_HOME: nothing
  is shared but the network. The cpu worker sends sft, grpo and evaluate of `knowrl/full` to the gpu pool.

Both shapes keep what a restart of the Prefect server must not lose and let in only who has the stack's secret:
- the server keeps its concurrency leases on disk (`PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE`, filesystem, under its
  PREFECT_HOME): with Prefect's default, leases in the server's memory, a restart loses the lease of a running GPU
  stage while the database keeps its slot counted, and every later GPU stage waits for ever (issue 24);
- the server's API asks for HTTP basic auth (`PREFECT_SERVER_API_AUTH_STRING`) with a secret generated here and kept
  in `<KNOWRL_HOME>/stack/api-auth` (mode 0600, never printed); workers, the stack's own `prefect` calls and
  `knowrl runs` / `knowrl stack status` send it (`PREFECT_API_AUTH_STRING`). Only GET /api/health and /api/ready
  answer without it;
- an automation marks a flow run Crashed when its heartbeats (every `HEARTBEAT_S`, set for the workers) stop for
  `CRASH_AFTER_S`: a worker or machine that died leaves no run "Running" for ever, and the crash releases the
  deployment's concurrency slot (knowrl_cli/automations.py).

Every process is started detached (it outlives this command) with its log and PID under `<KNOWRL_HOME>/stack/`, and
stopped by that PID. Children are started with SIGINT at its default even when this command was started with it
ignored (`cmd &` in a script): a Prefect worker turns SIGTERM into SIGINT, and one that inherited an ignored SIGINT
went on polling until killed after the whole grace period. We start the Prefect server ourselves rather than with
`prefect server start --background`: that pipes the server's output into a pipe nobody reads (the server stalls once
~64 KiB of log fill it) and keeps no log file.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import typer

from knowrl.errors import KnowrlError
from knowrl.registry import REGISTRY
from knowrl_cli.automations import HEARTBEAT_S, ZOMBIE_AUTOMATION, ZOMBIE_AUTOMATION_SPEC
from knowrl_cli.server_api import answers
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
AUTH_FILE = "api-auth"  # user:secret of the server's basic auth (0600)
SERVER_ENV = "server.env"  # the server's own settings (its database URL, the auth): `knowrl stack server` reuses them
SERVER_STATE = "server.json"  # where the server answers (no secret)
LEASE_STORAGE = "prefect.server.concurrency.lease_storage.filesystem"
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


def _env(api_url: str, auth: str | None = None) -> dict[str, str]:
    """A client's environment: this command's, pointed at the stack's server with its credentials."""
    env = dict(os.environ)
    env.update(PREFECT_API_URL=api_url, PREFECT_SERVER_ANALYTICS_ENABLED="false")
    if auth is not None:
        env["PREFECT_API_AUTH_STRING"] = auth
    env.setdefault("KNOWRL_HOME", str(Paths.from_env().root))
    env.setdefault("KNOWRL_REPO", str(REPO_ROOT))  # prefect.yaml's pull step: where workers run the code
    return env


def _default_sigint() -> None:
    """In the child, before it runs: SIGINT at its default. A Prefect worker stops on SIGTERM by sending itself
    SIGINT; started with SIGINT ignored (inherited from a `cmd &` in a script) it ignored that and kept polling."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _spawn(name: str, args: list[str], env: dict[str, str]) -> int:
    directory = _stack_dir()
    log = (directory / f"{name}.log").open("ab")
    # A new session: the process outlives this command and is stopped by `knowrl stack down`.
    process = subprocess.Popen(
        args,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=REPO_ROOT,
        start_new_session=True,
        preexec_fn=_default_sigint,
    )
    (directory / f"{name}.pid").write_text(str(process.pid))
    return process.pid


_healthy = answers  # GET /health: the one API path that needs no credentials


def _run(args: list[str], env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, env=env, cwd=REPO_ROOT, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise StackError(f"{' '.join(args[2:])} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result


def _write_private(path: Path, text: str) -> None:
    """A file only this user reads: the stack's generated credentials (a local stack, never a cluster's)."""
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)


def _read_env_file(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines() if path.exists() else []
    return dict(line.split("=", 1) for line in lines if "=" in line)


def _auth(create: bool) -> str | None:
    """The stack's `user:secret` for the server's basic auth; with `create`, made when there is none yet."""
    path = _stack_dir() / AUTH_FILE
    if path.exists():
        return path.read_text().strip()
    if not create:
        return None
    auth = f"knowrl:{secrets.token_urlsafe(32)}"
    _write_private(path, auth)
    return auth


def server_address(port: int | None = None) -> tuple[str, str | None]:
    """The API URL and credentials a `knowrl` command uses: PREFECT_API_URL / PREFECT_API_AUTH_STRING when set, else
    the stack's started here (`--port` picks another port on this machine)."""
    if port is not None:
        api_url = f"http://127.0.0.1:{port}/api"
    elif os.environ.get("PREFECT_API_URL"):
        api_url = os.environ["PREFECT_API_URL"].rstrip("/")
    else:
        state = _stack_dir() / SERVER_STATE
        api_url = json.loads(state.read_text())["api_url"] if state.exists() else "http://127.0.0.1:4200/api"
    auth = os.environ.get("PREFECT_API_AUTH_STRING") or _auth(create=False)
    return api_url, auth


def _server_settings(api_url: str, auth: str, prefect_home: Path, **extra: str) -> dict[str, str]:
    """What the server runs with besides the client environment; kept (0600) so `knowrl stack server` restarts it
    the same way."""
    settings = {
        "PREFECT_HOME": str(prefect_home),  # its leases live under it (concurrency_leases/)
        "PREFECT_SERVER_API_AUTH_STRING": auth,
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": LEASE_STORAGE,
        **extra,
    }
    directory = _stack_dir()
    _write_private(directory / SERVER_ENV, "".join(f"{k}={v}\n" for k, v in settings.items()))
    port = int(api_url.rsplit(":", 1)[1].split("/")[0])
    (directory / SERVER_STATE).write_text(json.dumps({"api_url": api_url, "port": port}))
    return settings


def _start_server(api_url: str, timeout: float) -> float:
    """Start the server from the kept settings and wait until it answers; the seconds that took."""
    directory = _stack_dir()
    port = json.loads((directory / SERVER_STATE).read_text())["port"]
    env = {**_env(api_url, _auth(create=False)), **_read_env_file(directory / SERVER_ENV)}
    started = time.monotonic()
    _spawn("server", [*_prefect(), "server", "start", "--host", "127.0.0.1", "--port", str(port)], env)
    deadline = started + timeout
    while not _healthy(api_url):
        if time.monotonic() > deadline:
            raise StackError(f"server not healthy after {timeout}s; see {directory / 'server.log'}")
        time.sleep(0.5)
    return time.monotonic() - started


def _deploy(env: dict[str, str]) -> None:
    for pool in POOLS:
        _run([*_prefect(), "work-pool", "create", pool, "--type", "process", "--overwrite"], env)
    _run([*_prefect(), "--no-prompt", "deploy", "--all"], env)
    # The gpu stages (sft, grpo, evaluate) take a slot of `tag:gpu` (tasks/slots.py): never two at a time. The limit
    # exists already on a second `up`.
    _run([*_prefect(), "concurrency-limit", "create", "gpu", "1"], env, check=False)
    if _run([*_prefect(), "automation", "inspect", ZOMBIE_AUTOMATION], env, check=False).returncode != 0:
        _run([*_prefect(), "automation", "create", "--from-json", json.dumps(ZOMBIE_AUTOMATION_SPEC)], env)


def _worker_settings(env: dict[str, str]) -> dict[str, str]:
    env.setdefault("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", str(HEARTBEAT_S))  # what the zombie automation watches
    return env


@app.command()
def up(
    port: int = typer.Option(4200, help="port of the Prefect server on 127.0.0.1"),
    gpu_worker: bool = typer.Option(False, help="one box: also start a worker on the gpu pool"),
    distributed: bool = typer.Option(
        False, help="PostgreSQL + S3 server + Prefect on PostgreSQL, cpu and gpu workers with their own homes"
    ),
    timeout: float = typer.Option(90.0, help="seconds to wait for the server to become healthy"),
) -> None:
    """Start the server, create the work pools, deploy everything in prefect.yaml, start worker(s).

    The server asks for basic auth: the secret is generated here into <KNOWRL_HOME>/stack/api-auth (mode 0600) and
    never printed; export it as PREFECT_API_AUTH_STRING for the `prefect` CLI (the `knowrl` commands read it)."""
    api_url = f"http://127.0.0.1:{port}/api"
    with _one_line_errors():
        if distributed:
            _up_distributed(port, timeout)
        else:
            _up_local(api_url, timeout, gpu_worker)
    auth_file = _stack_dir() / AUTH_FILE
    typer.echo(
        f"Prefect stack up. In your shell:\n  export PREFECT_API_URL={api_url}\n"
        f'  export PREFECT_API_AUTH_STRING="$(cat {auth_file})"\n'
        "  prefect deployment run knowrl/full --watch\n"
        "  knowrl runs    # the runs' final states, read from the server\n"
        "UI: " + api_url.removesuffix("/api") + " (user and password: the two halves of the file, split at ':')"
    )


def _up_local(api_url: str, timeout: float, gpu_worker: bool) -> None:
    if _healthy(api_url) and _auth(create=False) is None:
        raise StackError(
            f"a server already answers at {api_url} and this stack holds no credentials for it: stop it (by its PID) "
            "or pick another --port"
        )
    auth = _auth(create=True)
    assert auth is not None
    if not _healthy(api_url):
        home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect")  # where its SQLite database is
        _server_settings(api_url, auth, home)
        _start_server(api_url, timeout)
    env = _env(api_url, auth)
    _deploy(env)
    _spawn("worker-cpu", [*_prefect(), "worker", "start", "--pool", "cpu"], _worker_settings(dict(env)))
    if gpu_worker:
        _spawn("worker-gpu", [*_prefect(), "worker", "start", "--pool", "gpu"], _worker_settings(dict(env)))


@app.command()
def server(
    restart: bool = typer.Option(False, "--restart", help="stop the running server first (SIGINT, by its PID)"),
    timeout: float = typer.Option(90.0, help="seconds to wait for the server to become healthy"),
) -> None:
    """Start the stack's Prefect server again with the settings `up` gave it (its database, its leases on disk, its
    credentials): after it died, or with --restart to restart it. Runs in progress ride out the gap (their clients
    retry) and keep their GPU slots (leases on disk)."""
    with _one_line_errors():
        state = _stack_dir() / SERVER_STATE
        if not state.exists() or not (_stack_dir() / SERVER_ENV).exists():
            raise StackError("no stack was started here: start one with `knowrl stack up`")
        api_url = json.loads(state.read_text())["api_url"]
        if restart:
            _stop("server", signal.SIGINT)
        elif _healthy(api_url):
            typer.echo(f"server {api_url}: already answering (use --restart to restart it)")
            return
        seconds = _start_server(api_url, timeout)
    pid = (_stack_dir() / "server.pid").read_text().strip()
    typer.echo(f"server {api_url}: pid {pid}, healthy after {seconds:.1f}s")


# -- the distributed shape -----------------------------------------------------------------------------------------


def _services() -> Any:
    try:
        from knowrl_cli import local_services
    except ImportError as exc:  # moto or pgserver missing
        raise StackError(f"--distributed needs the stack extra: pip install -e '.[stack,remote]' ({exc})") from exc
    return local_services


def _up_distributed(port: int, timeout: float) -> None:
    if (_stack_dir() / STATE).exists():
        raise StackError(f"a distributed stack is already up ({_stack_dir() / STATE}); run `knowrl stack down` first")
    services = _services()
    directory = _stack_dir()
    # A fresh database: leases left by an earlier stack's server would name limits that no longer exist.
    for name in ("postgres", "s3", "server-prefect-home"):
        shutil.rmtree(directory / name, ignore_errors=True)
    for name in ("postgres", "s3"):
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
    auth = _auth(create=True)
    assert auth is not None
    # What every worker's environment carries (a cluster puts the same variables in the pool's job template or a
    # secret): the remote storage profile, its credentials and the API's; in a 0600 file for `knowrl stack worker`.
    worker_env = {
        **s3.env,
        "PGPASSWORD": postgres.password,
        "KNOWRL_ARTIFACTS_URL": f"s3://{BUCKET}/knowrl",
        "KNOWRL_WAREHOUSE_URL": postgres.warehouse_url("knowrl"),
        "PREFECT_API_AUTH_STRING": auth,
    }
    _write_private(directory / WORKER_ENV, "".join(f"{k}={v}\n" for k, v in worker_env.items()))
    api_url = f"http://127.0.0.1:{port}/api"
    state = {"api_url": api_url, "port": port, "bucket": BUCKET, "s3_endpoint": s3.endpoint}
    (directory / STATE).write_text(json.dumps(state, indent=1))
    # The server's own database; the URL holds the password, so it goes into the server's environment only.
    database = {"PREFECT_API_DATABASE_CONNECTION_URL": postgres.prefect_database_url("prefect")}
    _server_settings(api_url, auth, directory / "server-prefect-home", **database)
    _start_server(api_url, timeout)
    _deploy(_env(api_url, auth))
    for pool in POOLS:
        _start_worker(pool, fresh_home=True)


def _worker_env(pool: str) -> dict[str, str]:
    directory = _stack_dir()
    state = json.loads((directory / STATE).read_text())
    env = _env(state["api_url"])
    env.update(_read_env_file(directory / WORKER_ENV))
    home = directory / "workers" / pool
    env.update(KNOWRL_HOME=str(home / "knowrl-home"), PREFECT_HOME=str(home / "prefect-home"))
    env.pop("KNOWRL_REMOTE_STAGES", None)
    if pool == "cpu":
        env["KNOWRL_REMOTE_STAGES"] = GPU_STAGES  # knowrl/full on the cpu worker sends these to the gpu pool
    return _worker_settings(env)


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
    for name in (STATE, WORKER_ENV, SERVER_ENV, SERVER_STATE, AUTH_FILE):
        (_stack_dir() / name).unlink(missing_ok=True)


@app.command()
def status(
    port: int | None = typer.Option(None, help="the server's port (default: the stack's, or PREFECT_API_URL)"),
) -> None:
    """Whether the server answers, which stack processes are alive, and the concurrency slots held (a slot whose
    holder is not running is named, with the one command that frees it)."""
    api_url, auth = server_address(port)
    healthy = _healthy(api_url)
    typer.echo(f"server {api_url}: {'healthy' if healthy else 'not answering'}")
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
    if healthy:
        with _one_line_errors():
            _echo_held_slots(api_url, auth)


def _echo_held_slots(api_url: str, auth: str | None) -> None:
    from knowrl_cli.server_api import ServerError, connect
    from tasks.slots import held_slots

    try:
        with connect(api_url, auth) as client:
            uses = held_slots(client)
    except ServerError as exc:
        raise StackError(str(exc)) from None
    if not uses:
        typer.echo("concurrency slots: none held")
    for use in uses:
        typer.echo(f"{use.limit_name}: {use.active} of {use.limit} slot(s) held: {use.describe()}")
        if use.stuck:
            typer.echo(f"  held with no running holder; frees them now: {use.free_command}")
