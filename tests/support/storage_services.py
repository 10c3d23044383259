"""Object storage and PostgreSQL servers on loopback for tests of the remote storage profile.

`MotoS3Server` runs `moto_server` (a real S3 HTTP API) and `PostgresServer` runs the PostgreSQL binaries shipped by
the `pgserver` package, each as a child process on 127.0.0.1 with a free port, waited for until it answers and
stopped by its PID (SIGTERM, then SIGKILL) — never by name. Both work offline.

Fixtures for other test modules (import them into a conftest.py):

- `moto_s3` / `postgres_server`: session-scoped servers (a few seconds to start, so once per session);
- `remote_profile`: a fresh bucket and a fresh database per test, with the storage profile's environment variables
  (KNOWRL_ARTIFACTS_URL, KNOWRL_WAREHOUSE_URL, AWS_*, PGPASSWORD) set for the test and restored after it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

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

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://{HOST}:{self.port}"
        self.secret_key = f"test-secret-{uuid.uuid4().hex}"  # unique, so tests can grep for leaks of it
        self.log = workdir / "moto.log"
        binary = Path(sys.executable).with_name("moto_server")
        command = [str(binary)] if binary.exists() else [sys.executable, "-m", "moto.server"]
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [*command, "-H", HOST, "-p", str(self.port)], stdout=out, stderr=subprocess.STDOUT
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


class PostgresServer:
    """PostgreSQL from the `pgserver` wheel on 127.0.0.1:PORT, password auth over TCP, stopped by its PID."""

    def __init__(self, workdir: Path) -> None:
        from pgserver._commands import POSTGRES_BIN_PATH, initdb

        self.bin = POSTGRES_BIN_PATH
        self.port = free_port()
        self.user = "postgres"
        self.password = f"pg-{uuid.uuid4().hex}"
        self.data = workdir / "pgdata"
        self.data.mkdir(parents=True)
        self.log = workdir / "postgres.log"
        system_user = self._prepare_user(workdir)
        password_file = workdir / "pgpass.txt"
        password_file.write_text(self.password + "\n")
        self.log.touch()
        if system_user:
            import pwd

            entry = pwd.getpwnam(system_user)
            for path in (self.data, password_file, self.log):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        initdb(
            ["--auth-local=trust", "--auth-host=scram-sha-256", "-U", self.user, f"--pwfile={password_file}",
             "--encoding=utf8"],
            pgdata=self.data,
            user=system_user,
        )  # fmt: skip
        password_file.unlink()
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [
                    str(self.bin / "postgres"),
                    "-D",
                    str(self.data),
                    "-h",
                    HOST,
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.data),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                user=system_user,
            )
        _wait_until(self._answers, self.process, "postgres", self.log)

    @staticmethod
    def _prepare_user(workdir: Path) -> str | None:
        """PostgreSQL refuses to run as root: as root, run it as pgserver's unprivileged user, as pgserver does."""
        if os.geteuid() != 0:
            return None
        from pgserver._commands import POSTGRES_BIN_PATH
        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists("pgserver")
        ensure_prefix_permissions(workdir)
        workdir.chmod(workdir.stat().st_mode | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        readable = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, readable | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
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

    def warehouse_url(self, database: str) -> str:
        # No password in the URL: libpq reads PGPASSWORD, as the profile recommends.
        return f"ducklake:postgres:dbname={database} host={HOST} port={self.port} user={self.user}"

    def stop(self) -> None:
        _stop(self.process, signal.SIGINT)  # SIGINT: PostgreSQL's "fast" shutdown


@dataclass(frozen=True)
class RemoteProfile:
    """One test's remote storage: its bucket, database and the environment that selects them."""

    bucket: str
    database: str
    env: dict[str, str]
    s3: MotoS3Server
    postgres: PostgresServer

    @property
    def artifacts_url(self) -> str:
        return self.env["KNOWRL_ARTIFACTS_URL"]


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3Server]:
    pytest.importorskip("moto", reason="the remote profile's tests need moto[server] (pip install -e '.[dev]')")
    server = MotoS3Server(tmp_path_factory.mktemp("moto"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    pytest.importorskip("pgserver", reason="the remote profile's tests need pgserver (pip install -e '.[dev]')")
    server = PostgresServer(tmp_path_factory.mktemp("postgres"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def remote_profile(
    moto_s3: MotoS3Server, postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RemoteProfile]:
    """A fresh bucket and database, selected through the environment as a deployment would."""
    pytest.importorskip("duckdb_extension_ducklake", reason="needs the remote extra (pip install -e '.[remote]')")
    bucket = moto_s3.create_bucket()
    database = postgres_server.create_database()
    env = {
        **moto_s3.env,
        "PGPASSWORD": postgres_server.password,
        "KNOWRL_ARTIFACTS_URL": f"s3://{bucket}/knowrl",
        "KNOWRL_WAREHOUSE_URL": postgres_server.warehouse_url(database),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KNOWRL_LAKE_DATA_URL", raising=False)
    try:
        yield RemoteProfile(bucket, database, env, moto_s3, postgres_server)
    finally:
        from storage.lake import close_attached

        close_attached()


@contextlib.contextmanager
def services(workdir: Path) -> Iterator[tuple[MotoS3Server, PostgresServer]]:
    """Both servers outside pytest (benchmarks, manual runs); stopped by PID on exit."""
    s3 = MotoS3Server(workdir)
    try:
        postgres = PostgresServer(workdir)
        try:
            yield s3, postgres
        finally:
            postgres.stop()
    finally:
        s3.stop()
