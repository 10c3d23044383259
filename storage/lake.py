"""The remote profile's warehouse: DuckLake, its catalog in PostgreSQL and its data as Parquet in object storage.

DuckDB stays the engine and the API: each process keeps one in-memory DuckDB that loads the ducklake, httpfs and
postgres_scanner extensions from their pip packages (by file: no download, so it works offline), creates an S3
secret from the standard AWS variables (in memory only), ATTACHes the lake and hands out one cursor per unit of
work with `USE lake` run on it, so the SQL in storage/ runs unchanged. Many processes on many machines may write at
once; DuckLake detects conflicting commits, and `Warehouse.write` retries them.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import duckdb

from storage.profile import StorageProfile, redact
from storage.schema import ducklake_statement
from storage.warehouse import Warehouse, WarehouseError, WarehouseNotFoundError, backoff_delays

log = logging.getLogger("knowrl.storage")

CATALOG = "lake"
_CREATE_TABLE = re.compile(r"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)\s*\(", re.IGNORECASE)
_CREATE_RACE = re.compile(r"already exists|duplicate key|conflict", re.IGNORECASE)
_ATTACH_TRIES = 6
_RESERVED_COLUMN = re.compile(r"(?:^|[(,])\s*(row_id|begin_snapshot|end_snapshot)\s", re.IGNORECASE)
_EXTENSIONS = (
    ("duckdb_extension_httpfs", "httpfs"),
    ("duckdb_extension_postgres_scanner", "postgres_scanner"),
    ("duckdb_extension_ducklake", "ducklake"),
)


class WarehouseConnectError(WarehouseError):
    """The lake could not be attached (catalog unreachable, wrong credentials, missing extension)."""


def extension_path(package: str, name: str) -> Path:
    """The extension file shipped by pip package `package` for this DuckDB version."""
    import importlib

    version = duckdb.__version__
    pip_name = package.replace("_", "-")
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise WarehouseConnectError(
            f"the remote warehouse needs the DuckDB extension {name!r}: install `{pip_name}=={version}` "
            "(pip install -e '.[remote]')"
        ) from None
    path = Path(module.__file__).parent / "extensions" / f"v{version}" / f"{name}.duckdb_extension"
    if not path.exists():
        raise WarehouseConnectError(
            f"{pip_name} ships no extension for duckdb {version} (looked for {path}): install "
            f"`{pip_name}=={version}`, the version that equals DuckDB's"
        )
    return path


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def s3_secret_sql(profile: StorageProfile, environ: dict[str, str] | None = None) -> str | None:
    """CREATE SECRET for DuckDB's S3 access from the AWS variables; None when no key is set. Never log it."""
    env = os.environ if environ is None else environ
    key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        return None
    options = [f"KEY_ID {_sql_literal(key)}", f"SECRET {_sql_literal(secret)}"]
    if env.get("AWS_SESSION_TOKEN"):
        options.append(f"SESSION_TOKEN {_sql_literal(env['AWS_SESSION_TOKEN'])}")
    options.append(f"REGION {_sql_literal(profile.s3.region or 'us-east-1')}")
    if profile.s3.endpoint_url:
        endpoint = urlsplit(profile.s3.endpoint_url)
        options += [
            f"ENDPOINT {_sql_literal(endpoint.netloc)}",
            "URL_STYLE 'path'",  # S3-compatible servers (MinIO, moto, Ceph) serve buckets by path
            f"USE_SSL {'true' if endpoint.scheme == 'https' else 'false'}",
        ]
    return f"CREATE OR REPLACE SECRET knowrl_s3 (TYPE s3, {', '.join(options)})"


@dataclass
class _Attached:
    db: duckdb.DuckDBPyConnection
    pid: int


_ATTACHED: dict[tuple[str, str, bool], _Attached] = {}
_ATTACH_LOCK = threading.Lock()


class LakeWarehouse(Warehouse):
    """A DuckLake warehouse that many processes on many machines write at once."""

    def __init__(self, profile: StorageProfile, *, read_only: bool = False) -> None:
        if not profile.warehouse_url or not profile.lake_data_url:
            raise WarehouseError(
                "LakeWarehouse needs KNOWRL_WAREHOUSE_URL and a lake data URL (see storage/profile.py)"
            )
        self.profile = profile
        self.url = profile.warehouse_url
        self.data_url = profile.lake_data_url
        super().__init__(Path(os.devnull), read_only=read_only, wait_s=profile.wait_s)
        self._no_inlining: list[str] = []
        self._restore_inlining: int | None = None

    def describe(self) -> str:
        return redact(f"{self.url} (data {self.data_url})")

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        cursor = self._database(read_only).cursor()
        cursor.execute(f"USE {CATALOG}")
        return cursor

    def _release(self, con: duckdb.DuckDBPyConnection) -> None:
        con.close()  # the attached database stays open for the process's next unit of work

    def _database(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        # One attached in-memory DuckDB per process and lake: attaching costs ~0.5 s, a cursor nothing.
        key = (self.url, self.data_url, read_only)
        with _ATTACH_LOCK:
            entry = _ATTACHED.get(key)
            if entry is None or entry.pid != os.getpid():  # a forked child must not share its parent's DuckDB
                entry = _Attached(self._attach(read_only), os.getpid())
                _ATTACHED[key] = entry
            return entry.db

    def _attach(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        db = duckdb.connect(":memory:")
        try:
            # Extensions come from pip packages only: never let DuckDB try to download one (offline machines).
            db.execute("SET autoinstall_known_extensions = false")
            for package, name in _EXTENSIONS:
                db.execute(f"LOAD {_sql_literal(str(extension_path(package, name)))}")
            failure: WarehouseError | None = None
            secret = s3_secret_sql(self.profile)
            if secret is not None:
                try:
                    db.execute(secret)
                except duckdb.Error as exc:
                    failure = WarehouseConnectError(
                        f"could not create the S3 secret for {self.data_url}: {redact(str(exc))}; "
                        "check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_ENDPOINT_URL"
                    )
            options = [f"DATA_PATH {_sql_literal(self.data_url)}"]
            if read_only:
                options.append("READ_ONLY")
            if failure is None:
                try:
                    self._attach_with_retry(db, f"ATTACH {_sql_literal(self.url)} AS {CATALOG} ({', '.join(options)})")
                except duckdb.Error as exc:
                    message = redact(str(exc))
                    if read_only and "does not exist" in message:
                        failure = WarehouseNotFoundError(
                            f"no DuckLake at {self.describe()}: run a stage first, or check KNOWRL_WAREHOUSE_URL"
                        )
                    else:
                        failure = WarehouseConnectError(
                            f"could not attach the DuckLake {self.describe()}: {message}; check "
                            "KNOWRL_WAREHOUSE_URL, PGPASSWORD and that the PostgreSQL server is reachable"
                        )
            # Raised outside the except blocks: DuckDB's own message quotes the connection string (password
            # included), so it must not travel along as the new error's context.
            if failure is not None:
                raise failure
        except BaseException:
            db.close()
            raise
        log.debug("attached DuckLake %s%s", self.describe(), " read-only" if read_only else "")
        return db

    def _attach_with_retry(self, db: duckdb.DuckDBPyConnection, attach: str) -> None:
        # Two processes attaching a new lake at once both try to create its catalog tables; the loser's
        # PostgreSQL transaction fails ("already exists"), and its retry finds the catalog made.
        delays = backoff_delays(first=0.2)
        for attempt in range(1, _ATTACH_TRIES + 1):
            try:
                db.execute(attach)
                return
            except duckdb.Error as exc:
                if attempt == _ATTACH_TRIES or not _CREATE_RACE.search(str(exc)):
                    raise
                log.debug(
                    "attaching %s raced another process creating it (try %d): retrying", self.describe(), attempt
                )
            time.sleep(next(delays))

    def _translate(self, statement: str) -> str:
        return ducklake_statement(statement)

    def _apply(self, con: duckdb.DuckDBPyConnection, statement: str) -> None:
        statement = self._translate(statement)
        created = _CREATE_TABLE.match(statement)
        if not (created and _RESERVED_COLUMN.search(statement[created.end() :])):
            con.execute(statement)
            return
        # DuckLake keeps small inserts in the catalog ("inlining") under internal columns, one named like ours
        # (rl_rows.row_id). Such a table can only be created with inlining off; after the commit it gets its own
        # "off" and the lake's limit is restored, so the other tables keep inlining their small writes.
        limit = con.execute(
            f"SELECT value FROM {CATALOG}.options() WHERE option_name = 'data_inlining_row_limit' AND scope = 'GLOBAL'"
        ).fetchall()
        if self._restore_inlining is None:
            self._restore_inlining = int(limit[0][0]) if limit else 10
        con.execute(f"CALL {CATALOG}.set_option('data_inlining_row_limit', 0)")
        con.execute(statement)
        self._no_inlining.append(created.group(1))

    def _after_migration(self, con: duckdb.DuckDBPyConnection) -> None:
        if not self._no_inlining:
            return
        try:
            for table in self._no_inlining:
                con.execute(
                    f"CALL {CATALOG}.set_option('data_inlining_row_limit', 0, table_name => {_sql_literal(table)})"
                )
            con.execute(f"CALL {CATALOG}.set_option('data_inlining_row_limit', {self._restore_inlining})")
        except duckdb.Error as exc:
            # Correct either way; only small writes go to Parquet files instead of the catalog until it is fixed.
            log.warning(
                "DuckLake %s: could not restore data inlining (%s); run CALL %s.set_option('data_inlining_row_limit',"
                " 0, table_name => ...) for %s, then set_option('data_inlining_row_limit', %s)",
                self.describe(),
                redact(str(exc)),
                CATALOG,
                self._no_inlining,
                self._restore_inlining,
            )
        self._no_inlining = []
        self._restore_inlining = None


def close_attached() -> None:
    """Close this process's attached lakes (tests, and long-lived processes that change the profile)."""
    with _ATTACH_LOCK:
        for entry in _ATTACHED.values():
            if entry.pid == os.getpid():
                entry.db.close()
        _ATTACHED.clear()
