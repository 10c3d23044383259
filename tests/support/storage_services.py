"""Object storage and PostgreSQL servers on loopback for tests of the remote storage profile.

The servers themselves (`MotoS3Server`, `PostgresServer`: child processes on 127.0.0.1, stopped by PID) live in
knowrl_cli/local_services.py, shared with `knowrl stack up --distributed`.

Fixtures for other test modules (import them into a conftest.py):

- `moto_s3` / `postgres_server`: session-scoped servers (a few seconds to start, so once per session);
- `remote_profile`: a fresh bucket and a fresh database per test, with the storage profile's environment variables
  (KNOWRL_ARTIFACTS_URL, KNOWRL_WAREHOUSE_URL, AWS_*, PGPASSWORD) set for the test and restored after it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from knowrl_cli.local_services import ACCESS_KEY, HOST, MotoS3Server, PostgresServer, free_port

__all__ = ["ACCESS_KEY", "HOST", "MotoS3Server", "PostgresServer", "free_port"]


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
