"""An S3-compatible server and a PostgreSQL server on loopback: the remote storage profile on one machine.

`MotoS3Server` runs `moto_server` (a real S3 HTTP API, in memory) and `PostgresServer` runs the PostgreSQL binaries
shipped by the `pgserver` wheel, each on 127.0.0.1 with a free port (or a given one), waited for until it answers
and stopped by its PID (SIGTERM or SIGINT, then SIGKILL), never by name. Both work offline. `knowrl stack up
--distributed` starts them detached (they outlive the command; `knowrl stack down` stops them by PID); the tests
start them as children of the test. Needs the `stack` extra (`pip install -e '.[stack]'`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

HOST = "127.0.0.1"
ACCESS_KEY = "knowrl-test-key"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """Stop one child process by its PID: `sig`, then SIGKILL if it has not exited within `timeout`."""
    if process.poll() is not None:
        return
    os.kill(process.pid, sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout)


def stop_pid(pid: int, sig: int = signal.SIGTERM, timeout: float = 15.0) -> bool:
    """Stop a process that is not our child (started by an earlier command) by its PID; False when it was gone."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True


def _wait_until(ready, process: subprocess.Popen, what: str, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{what} exited with {process.returncode} before answering; its log:\n{log.read_text()}"
            )
        if ready():
            return
        time.sleep(0.1)
    _stop(process)
    raise RuntimeError(f"{what} did not answer within {timeout:.0f} s; its log:\n{log.read_text()}")


class MotoS3Server:
    """`moto_server -H 127.0.0.1 -p PORT`: an in-memory S3 endpoint for the length of a test session."""

    def __init__(self, workdir: Path, port: int | None = None, *, detach: bool = False) -> None:
        self.port = port or free_port()
        self.endpoint = f"http://{HOST}:{self.port}"
        self.secret_key = f"test-secret-{uuid.uuid4().hex}"  # unique, so tests can grep for leaks of it
        self.log = workdir / "moto.log"
        binary = Path(sys.executable).with_name("moto_server")
        command = [str(binary)] if binary.exists() else [sys.executable, "-m", "moto.server"]
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [*command, "-H", HOST, "-p", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=detach,  # detached: outlives this command, stopped by PID later
            )
        _wait_until(self._answers, self.process, "moto_server", self.log)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/", timeout=1):
                return True
        except OSError:
            return False

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": "us-east-1",
        }

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def create_bucket(self, name: str | None = None) -> str:
        name = name or f"knowrl-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def objects(self, bucket: str) -> dict[str, bytes]:
        """Every object of a bucket, by key (for tests that grep what was stored)."""
        client = self.client()
        keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                for o in page.get("Contents", [])]  # fmt: skip
        return {key: client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}

    def stop(self) -> None:
        _stop(self.process)


class PostgresBinariesError(RuntimeError):
    """No PostgreSQL binaries with what the caller needs (Prefect's server needs the pg_trgm extension)."""


def postgres_bin(require: tuple[str, ...] = ()) -> Path:
    """The `bin` folder of a PostgreSQL installation providing the extensions in `require`.

    `KNOWRL_PG_BIN` when set; else a system PostgreSQL (Debian/Ubuntu's /usr/lib/postgresql/<version>/bin, or the
    one on PATH) that has them; else the `pgserver` wheel's, which ships no contrib extensions: enough for the
    DuckLake catalog, not for Prefect's server (its migrations create pg_trgm).
    """
    configured = os.environ.get("KNOWRL_PG_BIN")
    candidates = [Path(configured)] if configured else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name, reverse=True)
    on_path = shutil.which("postgres")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    with contextlib.suppress(ImportError):
        from pgserver._commands import POSTGRES_BIN_PATH

        candidates.append(POSTGRES_BIN_PATH)
    for candidate in candidates:
        if (candidate / "postgres").exists() and all(_has_extension(candidate, name) for name in require):
            return candidate
    raise PostgresBinariesError(
        f"no PostgreSQL installation with the extension(s) {', '.join(require) or '-'} among "
        f"{[str(c) for c in candidates]}: install PostgreSQL with its contrib package (e.g. `apt install "
        "postgresql postgresql-contrib`) or set KNOWRL_PG_BIN to the bin folder of one"
    )


def _has_extension(bin_dir: Path, name: str) -> bool:
    lib = bin_dir.parent / "lib"
    return any((folder / f"{name}.so").exists() for folder in (lib, lib / "postgresql"))


class PostgresServer:
    """A PostgreSQL server (see `postgres_bin`) on 127.0.0.1:PORT, password auth over TCP, stopped by its PID."""

    def __init__(
        self, workdir: Path, port: int | None = None, *, detach: bool = False, require: tuple[str, ...] = ()
    ) -> None:
        self.bin = postgres_bin(require)
        self.port = port or free_port()
        self.user = "postgres"
        self.password = f"pg-{uuid.uuid4().hex}"
        self.data = workdir / "pgdata"
        self.data.mkdir(parents=True)
        self.log = workdir / "postgres.log"
        system_user = self._prepare_user(workdir, self.bin)
        password_file = workdir / "pgpass.txt"
        password_file.write_text(self.password + "\n")
        self.log.touch()
        if system_user:
            import pwd

            entry = pwd.getpwnam(system_user)
            for path in (self.data, password_file, self.log):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        initdb = [str(self.bin / "initdb"), "-D", str(self.data), "--auth-local=trust", "--auth-host=scram-sha-256",
                  "-U", self.user, f"--pwfile={password_file}", "--encoding=utf8"]  # fmt: skip
        result = subprocess.run(initdb, capture_output=True, text=True, user=system_user, check=False)
        password_file.unlink()
        if result.returncode != 0:
            raise RuntimeError(f"initdb of {self.data} failed: {result.stderr.strip()[-2000:]}")
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                # TCP only (`-k ""`: no Unix socket): a socket path under a deep test folder exceeds 107 bytes.
                [str(self.bin / "postgres"), "-D", str(self.data), "-h", HOST, "-p", str(self.port), "-k", ""],
                stdout=out,
                stderr=subprocess.STDOUT,
                user=system_user,
                start_new_session=detach,
            )  # fmt: skip
        _wait_until(self._answers, self.process, "postgres", self.log)

    @staticmethod
    def _prepare_user(workdir: Path, bin_dir: Path) -> str | None:
        """PostgreSQL refuses to run as root: as root, run it as an unprivileged user that can read the binaries and
        write `workdir` (pgserver's user, created as pgserver does)."""
        if os.geteuid() != 0:
            return None
        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists("pgserver")
        ensure_prefix_permissions(workdir)
        workdir.chmod(workdir.stat().st_mode | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        if bin_dir.is_relative_to(Path(sys.prefix)):  # the pgserver wheel's files may be private to root
            readable = stat.S_IRGRP | stat.S_IROTH
            ensure_folder_permissions(bin_dir, readable | stat.S_IXGRP | stat.S_IXOTH)
            ensure_folder_permissions(bin_dir.parent / "lib", readable)
        return "pgserver"

    def _answers(self) -> bool:
        result = subprocess.run(
            [str(self.bin / "pg_isready"), "-h", HOST, "-p", str(self.port), "-U", self.user],
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = subprocess.run(
            [
                str(self.bin / "psql"),
                "-h",
                HOST,
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                database,
                "-At",
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "PGPASSWORD": self.password},
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed on {sql!r}: {result.stderr.strip()}")
        return result.stdout

    def create_database(self, name: str | None = None) -> str:
        name = name or f"knowrl_{uuid.uuid4().hex[:12]}"
        self.psql(f'CREATE DATABASE "{name}"')
        return name

    @property
    def pid(self) -> int:
        return self.process.pid

    def prefect_database_url(self, database: str) -> str:
        """SQLAlchemy URL of a database for Prefect's server (asyncpg); it holds the password: pass it only in the
        server's environment."""
        return f"postgresql+asyncpg://{self.user}:{self.password}@{HOST}:{self.port}/{database}"

    def warehouse_url(self, database: str) -> str:
        # No password in the URL: libpq reads PGPASSWORD, as the profile recommends.
        return f"ducklake:postgres:dbname={database} host={HOST} port={self.port} user={self.user}"

    def stop(self) -> None:
        _stop(self.process, signal.SIGINT)  # SIGINT: PostgreSQL's "fast" shutdown
