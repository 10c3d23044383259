"""Fixtures of the fault-injection suite: an isolated home per test (KNOWRL_HOME and PREFECT_HOME), real `knowrl`
processes that are always stopped by PID, warehouse counts to compare runs by, and the summary table of probes
(probe, expected, observed) printed at the end of the session."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import REPO_ROOT

DEMO_RECIPE = str(REPO_ROOT / "recipes" / "demo.yaml")
# The smallest training that still saves a checkpoint per step and logs every step (seconds on 2 cores).
SMALL_TRAINING = [
    "sft.max_steps=2",
    "sft.per_device_train_batch_size=4",
    "sft.save_steps=1",
    "sft.logging_steps=1",
    "sft.sample_prompts=2",
    "sft.sample_max_new_tokens=8",
    "grpo.max_steps=2",
    "grpo.per_device_train_batch_size=4",
    "grpo.num_generations=2",
    "grpo.max_completion_length=16",
    "grpo.save_steps=1",
    "grpo.logging_steps=1",
]
# Warehouse tables whose row counts must not depend on how many times a stage was interrupted and rerun.
# (dataset_loads and quarantine keep one row per load attempt by design: a load history.)
CONTENT_TABLES = (
    "rl_rows",
    "coldstart_rows",
    "knowledge_pages",
    "knowledge_passages",
    "knowledge_segments",
    "knowledge_searched",
    "knowledge_coverage",
    "knowledge_quarantine",
)
SERVER_MARK = "prefect.server.api.server:create_app"

_ROWS: list[tuple[str, str, str]] = []


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The suite's table: each probe, what it must do, what it did."""
    if not _ROWS:
        return
    headers = ("probe", "expected", "observed")
    widths = [max(len(headers[i]), *(len(r[i]) for r in _ROWS)) for i in range(3)]
    terminalreporter.section("fault probes")
    line = " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    terminalreporter.write_line(line)
    terminalreporter.write_line("-+-".join("-" * w for w in widths))
    for row in _ROWS:
        terminalreporter.write_line(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def add_row(probe: str, expected: str, observed: str) -> None:
    """One row of the summary table (for fixtures; tests use `record`)."""
    _ROWS.append((probe, expected, " ".join(str(observed).split())))


@pytest.fixture
def record():
    """`record(probe, expected, observed)`: one row of the summary table (recorded before the test's asserts, so a
    failing probe shows what it observed)."""
    return add_row


def differences(got: dict[str, Any], want: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """key -> (got, want) for every key whose values differ: what an assertion on counts should show."""
    return {k: (got.get(k), want.get(k)) for k in sorted(set(got) | set(want)) if got.get(k) != want.get(k)}


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def alive(proc: psutil.Process) -> bool:
    """Still running (not a zombie, not a new process that reused the PID)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """The processes of `procs` still alive after up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    left = [p for p in procs if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [p for p in left if alive(p)]
    return left


def kill_all(procs: list[psutil.Process]) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            if alive(proc):
                proc.kill()


@dataclass
class FaultHome:
    """One test's KNOWRL_HOME and PREFECT_HOME, and the `knowrl` processes it started there."""

    root: Path
    tiny_model: Any  # () -> Path: built on first use, tests of data and knowledge never need it
    started: list[subprocess.Popen] = field(default_factory=list)
    seen: list[psutil.Process] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "KNOWRL_HOME": str(self.home),
            "PREFECT_HOME": str(self.root / "prefect"),
            "PREFECT_LOGGING_LEVEL": "INFO",
            "PREFECT_LOGGING_TO_API_ENABLED": "false",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "KNOWRL_NUM_THREADS": "1",  # two cores, often two processes: no oversubscription
            "KNOWRL_FAULT_MARKER": str(self.marker),
            "COLUMNS": "200",
            "PYTHONWARNINGS": "ignore",
        }
        env.pop("PREFECT_API_URL", None)  # each run starts its own temporary server, as `knowrl run` does for users
        return env

    @property
    def marker(self) -> Path:
        return self.root / "fault-point.json"

    def seed_model(self) -> None:
        """The demo's tiny model, built once per session, in this home's model cache (what `builtin:` finds)."""
        built = self.tiny_model()
        models = self.home / "models"
        models.mkdir(parents=True, exist_ok=True)
        link = models / built.name
        if not link.exists():
            link.symlink_to(built, target_is_directory=True)

    def argv(self, *args: str, point: str | None = None, route: str = "cli") -> list[str]:
        if point is None:
            return [sys.executable, "-m", "knowrl_cli", *args]
        return [sys.executable, "-m", "tests.faults.inject", point, route, *args]

    def start(self, *args: str, point: str | None = None, route: str = "cli", **env: str) -> subprocess.Popen:
        """Start a process; its output goes to files (a pipe would never close while an orphan it left holds it)."""
        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        number = len(self.started)
        with open(logs / f"{number}.out", "w") as out, open(logs / f"{number}.err", "w") as err:
            proc = subprocess.Popen(
                self.argv(*args, point=point, route=route),
                env={**self.env, **env},
                cwd=REPO_ROOT,
                stdout=out,
                stderr=err,
                text=True,
            )
        proc.out_path, proc.err_path = logs / f"{number}.out", logs / f"{number}.err"  # type: ignore[attr-defined]
        self.started.append(proc)
        return proc

    @staticmethod
    def output(proc: subprocess.Popen) -> tuple[str, str]:
        """What the process wrote so far to stdout and stderr."""
        return proc.out_path.read_text(errors="replace"), proc.err_path.read_text(errors="replace")  # type: ignore[attr-defined]

    def finish(self, proc: subprocess.Popen, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Wait for a started process to end (stopping it, and failing, after `timeout` seconds)."""
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(proc)
            proc.wait()
            tail = self.output(proc)[1][-3000:]
            raise AssertionError(f"{proc.args} ran over {timeout} s; stderr tail:\n{tail}") from None
        out, err = self.output(proc)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def run(
        self, *args: str, point: str | None = None, route: str = "cli", timeout: float = 300, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return self.finish(self.start(*args, point=point, route=route, **env), timeout)

    def wait_for_point(self, proc: subprocess.Popen, timeout: float = 240) -> dict[str, Any]:
        """Wait until `proc` reaches its fault point (it then waits to be killed); its marker's content."""
        deadline = time.monotonic() + timeout
        while not self.marker.exists():
            if proc.poll() is not None:
                out, err = self.output(proc)
                raise AssertionError(f"exited {proc.returncode} before its fault point:\n{out[-2000:]}\n{err[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"did not reach its fault point in {timeout} s")
            time.sleep(0.05)
        marker = json.loads(self.marker.read_text())
        self.marker.unlink()
        return marker

    def kill9(self, proc: subprocess.Popen) -> list[psutil.Process]:
        """`kill -9` the process alone (not its group), as an operator or the OOM killer would; returns the
        descendants it had, which the test then expects to go away by themselves."""
        children = descendants(proc.pid)
        self.seen.extend(children)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return children

    def stop(self, proc: subprocess.Popen) -> None:
        """Stop a process this test started and everything under it, by PID."""
        tree = descendants(proc.pid)
        self.seen.extend(tree)
        if proc.poll() is None:
            proc.kill()
        kill_all(tree)

    def cleanup(self) -> None:
        for proc in self.started:
            self.stop(proc)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        kill_all(self.seen)

    def counts(self) -> dict[str, Any]:
        """Row counts of the content tables and training logs, and artifacts per stage."""
        import duckdb

        counts: dict[str, Any] = {}
        con = duckdb.connect(str(self.home / "warehouse.duckdb"), read_only=True)
        try:
            for table in CONTENT_TABLES:
                counts[table] = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            counts["train_logs"] = dict(
                con.execute("SELECT stage, count(*) FROM train_logs GROUP BY stage ORDER BY stage").fetchall()
            )
            counts["train_log_duplicates"] = con.execute(
                "SELECT count(*) - count(DISTINCT (run_key, step, metric)) FROM train_logs"
            ).fetchall()[0][0]
        finally:
            con.close()
        artifacts = self.home / "artifacts"
        counts["artifacts"] = {
            d.name: len(list(d.iterdir())) for d in sorted(artifacts.iterdir()) if d.is_dir() and d.name != ".tmp"
        }
        return counts

    def stage_runs(self) -> dict[str, int]:
        """Completed stage runs per stage (each a task body that ran to its end; cache hits add none)."""
        import duckdb

        con = duckdb.connect(str(self.home / "warehouse.duckdb"), read_only=True)
        try:
            return dict(con.execute("SELECT stage, count(*) FROM stage_runs GROUP BY stage").fetchall())
        finally:
            con.close()

    def debris(self) -> list[str]:
        """What a crashed run may leave behind: temporaries of the artifact store and of model builds."""
        found = [str(p) for p in (self.home / "artifacts" / ".tmp").glob("*")]
        found += [str(p) for p in (self.home / "models").glob(".tmp-*")]
        return found


def orphan_servers(prefect_home: Path) -> list[psutil.Process]:
    """Prefect temporary servers started for this PREFECT_HOME that are still running."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            server = SERVER_MARK in " ".join(proc.info["cmdline"] or []) and alive(proc)
            if server and proc.environ().get("PREFECT_HOME") == str(prefect_home):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


@pytest.fixture(scope="session")
def fault_tiny_model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's tiny model, built once: in pytest's cache folder when there is one (its name is a hash of what
    it is built from, so a changed recipe builds a new one), else in a session temp folder."""
    from knowrl.models import resolve_model

    cache = getattr(request.config, "cache", None)
    models = Path(cache.mkdir("knowrl-tiny-model")) if cache is not None else tmp_path_factory.mktemp("models")
    return resolve_model("builtin:tiny-qwen2", models)


_START_SERVER = """
from prefect.server.api.server import SubprocessASGIServer
server = SubprocessASGIServer()
server.start(timeout=300)
server.stop()
"""


@pytest.fixture(scope="session")
def prefect_home_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PREFECT_HOME whose database is migrated and whose block types are registered (a temporary server started
    and stopped there once). Each test's PREFECT_HOME starts as a copy: its server then starts in half the time."""
    template = tmp_path_factory.mktemp("prefect-template")
    env = {**os.environ, "PREFECT_HOME": str(template), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run([sys.executable, "-c", _START_SERVER], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return template


@contextlib.contextmanager
def open_fault_home(root: Path, request: pytest.FixtureRequest):
    prefect_home = root / "prefect"
    prefect_home.mkdir(parents=True)  # Prefect does not create a missing PREFECT_HOME's parent folders
    template: Path = request.getfixturevalue("prefect_home_template")
    for name in ("prefect.db", "prefect.db-wal", "memo_store.toml"):  # not the -shm index: SQLite rebuilds it
        if (template / name).exists():
            shutil.copy2(template / name, prefect_home / name)
    fh = FaultHome(root, lambda: request.getfixturevalue("fault_tiny_model"))
    try:
        yield fh
    finally:
        fh.cleanup()
        kill_all(orphan_servers(root / "prefect"))


@pytest.fixture
def fault_home(tmp_path: Path, request: pytest.FixtureRequest):
    """A fresh KNOWRL_HOME and PREFECT_HOME; every process the test starts is stopped at the end, by PID."""
    with open_fault_home(tmp_path, request) as fh:
        yield fh


@dataclass(frozen=True)
class CleanRun:
    counts: dict[str, Any]
    refs: dict[str, Any]


@pytest.fixture(scope="session")
def clean_data_knowledge(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> CleanRun:
    """data and knowledge of the demo recipe run once without a fault (library route): what every interrupted and
    rerun home must end up with."""
    with open_fault_home(tmp_path_factory.mktemp("clean"), request) as fh:
        done = fh.run("data,knowledge", point="none", route="lib", timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        return CleanRun(fh.counts(), json.loads(done.stdout.splitlines()[-1]))


def sets(overrides: list[str]) -> list[str]:
    """`--set` arguments for recipe overrides."""
    return [arg for o in overrides for arg in ("--set", o)]


def status_loop(fh: FaultHome, until: threading.Event, overrides: list[str]) -> list[dict]:
    """`knowrl status` one call after the other until `until` is set; each call's exit code, output and kind: ok
    (exit 0), busy (exit != 0 with one line saying the warehouse is busy) or bad (anything else)."""
    calls = []
    while not until.is_set():
        started = time.monotonic()
        result = fh.run("status", "--recipe", DEMO_RECIPE, *sets(overrides), timeout=120)
        lines = [line for line in result.stdout.splitlines() + result.stderr.splitlines() if line.strip()]
        if result.returncode == 0 and "Traceback" not in result.stderr:
            kind = "ok"
        elif len(lines) == 1 and "busy" in lines[0].lower():
            kind = "busy"
        else:
            kind = "bad"
        calls.append(
            {
                "rc": result.returncode,
                "kind": kind,
                "seconds": round(time.monotonic() - started, 1),
                "tail": (result.stdout + result.stderr)[-1500:] if kind == "bad" else "",
            }
        )
    return calls


@pytest.fixture(scope="session")
def clean_pipeline(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> dict:
    """data, knowledge, sft and grpo (tiny) by `knowrl run`, with `knowrl status` called in a loop beside it; its
    counts are what a run of the same recipe must end with, however it was interrupted."""
    with open_fault_home(tmp_path_factory.mktemp("pipeline"), request) as fh:
        fh.seed_model()
        done = threading.Event()
        statuses: list[dict] = []
        loop = threading.Thread(target=lambda: statuses.extend(status_loop(fh, done, SMALL_TRAINING)))
        stages = "data,knowledge,sft,curate,grpo"
        proc = fh.start("run", "--recipe", DEMO_RECIPE, "--stages", stages, *sets(SMALL_TRAINING))
        loop.start()
        try:
            run = fh.finish(proc, timeout=400)
        finally:
            done.set()
            loop.join()
        counts = fh.counts() if run.returncode == 0 else {}
        return {
            "run": run,
            "statuses": statuses,
            "counts": counts,
            "stage_runs": fh.stage_runs() if run.returncode == 0 else {},
        }


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str):
    """A tmpfs of `size` mounted at `path` for the block (a disk that fills up); skips the test where mounting is not
    allowed (not root, or no mount permission in this container), and always unmounts."""
    if os.geteuid() != 0:
        pytest.skip(f"a full disk needs a small tmpfs and mounting one needs root (euid {os.geteuid()})")
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs at {path}: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)  # still busy: detach it lazily


@pytest.fixture(scope="module")
def fault_stack():
    """`knowrl stack up --distributed` with the demo's data and knowledge stages run once (`knowrl/full`), shared by
    the probes of a module (tests/faults/distributed.py); how long `knowrl stack down` took goes into the table."""
    from tests.faults.distributed import distributed_stack

    with distributed_stack() as stack:
        run = stack.start_run("knowrl/full", {"stages": ["data", "knowledge"]})
        state = stack.wait_run(run, timeout=300)
        assert state["type"] == "COMPLETED", f"{state}{stack.log_tails()}"
        yield stack
    stopped = [line for line in stack.down_output.splitlines() if line.startswith("stopped")]
    add_row(
        "`knowrl stack down` (distributed; workers started with SIGINT at its default)",
        "each worker stops in seconds, not its 30 s grace",
        "; ".join(stopped) or "nothing stopped",
    )
