"""The warehouse: DuckDB SQL over a local DuckDB file (local profile) or a DuckLake (remote profile, storage/lake.py).

Connections are short-lived, one per transaction, so that another process can take the local file's lock between
two of ours. A writer that finds the file locked waits (exponential backoff, logged) up to `wait_s` seconds and
only then raises `WarehouseBusyError`; DuckDB's lock is an OS file lock, so a holder that died released it.

Registering writes go through `Warehouse.write(fn, serialize=...)`: a transaction that first bumps a one-row lock
table of its family (schema migration 8). Two such transactions conflict on commit even on DuckLake, which has no
primary keys to stop duplicates; the loser is retried, and its insert-where-not-exists then finds the row and
does nothing. So a second writer of the same content-addressed key succeeds as a no-op.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from storage.errors import KnowrlError
from storage.profile import StorageConfigError, wait_seconds_from_env
from storage.schema import MIGRATIONS, WRITE_LOCKS

log = logging.getLogger("knowrl.storage")

T = TypeVar("T")

_LOCKED = re.compile(r"could not set lock|conflicting lock", re.IGNORECASE)
_SERIALIZATION_FAILURE = re.compile(r"could not serialize access due to (concurrent update|read/write dep)", re.I)
_DISK_FULL = re.compile(r"no space left on device|disk quota exceeded", re.IGNORECASE)
_HOLDER = re.compile(r"\(PID (\d+)\)")
_BACKOFF_FIRST_S = 0.05
_BACKOFF_MAX_S = 5.0
_LOG_EVERY_S = 30.0


@dataclass
class _OpenFile:
    db: duckdb.DuckDBPyConnection
    read_only: bool
    users: int
    pid: int


_OPEN_FILES: dict[str, _OpenFile] = {}
_OPEN_FILES_CHANGED = threading.Condition()


class WarehouseError(KnowrlError, RuntimeError):
    """The warehouse cannot be used as asked; the message names the warehouse and the fix."""


class WarehouseBusyError(WarehouseError):
    """Another process held the DuckDB file's lock for longer than the writer was allowed to wait."""

    transient = True  # the holder finishes its write: a retry of the stage later gets the lock


class WarehouseNotFoundError(WarehouseError, FileNotFoundError):
    """A read-only open found no warehouse (a misspelt KNOWRL_HOME must not create a new, empty one)."""


class WarehouseVersionError(WarehouseError):
    """The DuckDB file was written by a DuckDB version this one cannot read."""


def is_conflict(exc: BaseException) -> bool:
    """Whether `exc` is a transaction conflict that a retry of the whole transaction can resolve: DuckDB's own, or
    PostgreSQL's serialization failure (SQLSTATE 40001) that a DuckLake catalog on PostgreSQL reports through
    DuckDB's generic error (two processes migrating the lake at once: one's `set_option` loses)."""
    if isinstance(exc, duckdb.TransactionException) and "conflict" in str(exc).lower():
        return True
    return isinstance(exc, duckdb.Error) and _SERIALIZATION_FAILURE.search(str(exc)) is not None


def backoff_delays(first: float = _BACKOFF_FIRST_S, cap: float = _BACKOFF_MAX_S) -> Iterator[float]:
    """Exponential delays with jitter, so that two waiters do not retry in lockstep."""
    delay = first
    while True:
        yield delay * random.uniform(0.7, 1.3)
        delay = min(cap, delay * 2)


def insert_new(
    con: duckdb.DuckDBPyConnection,
    table: str,
    source: str,
    columns: Sequence[str],
    keys: Sequence[str],
    params: Sequence[Any] = (),
) -> None:
    """Insert the rows of `source` (a table, view or parenthesised query with `params`) whose `keys` are not in
    `table` yet, once per key even if `source` repeats one.

    The portable form of `INSERT OR IGNORE`: DuckLake tables have no primary key to ignore on. Run it in a
    `Warehouse.write(..., serialize=...)` transaction so that a concurrent writer cannot add the same key meanwhile.
    """
    cols = ", ".join(columns)
    match = " AND ".join(f"t.{k} IS NOT DISTINCT FROM i.{k}" for k in keys)
    con.execute(
        f"INSERT INTO {table} ({cols}) SELECT {cols} FROM (SELECT DISTINCT ON ({', '.join(keys)}) {cols} "
        f"FROM {source}) i WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {match})",
        list(params),
    )


def disk_full_error(exc: BaseException, path: Path | str) -> OSError | None:
    """A DuckDB error that reports a full disk, as `OSError(ENOSPC)` naming `path`; None for any other error.

    DuckDB reports a full disk as an IOException, or as a TransactionException when the WAL write of a COMMIT fails
    ("Failed to commit: Could not write file ...: No space left on device"): not an OSError, so a task would retry
    it as if it were a busy file, and the user would get DuckDB's traceback instead of the path to free space on.
    """
    if not isinstance(exc, duckdb.Error) or not _DISK_FULL.search(str(exc)):
        return None
    said = " ".join(str(exc).split())[:300]
    return OSError(errno.ENOSPC, f"No space left on device (DuckDB: {said})", str(path))


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.execute("ROLLBACK")
    except duckdb.TransactionException as exc:
        # A failed COMMIT has already ended the transaction: there is nothing left to roll back.
        log.debug("rollback after a failed transaction: %s", exc)


class Warehouse:
    """The local profile's warehouse: one DuckDB file, written by one process at a time (the others wait).

    `read_only=True` makes every connection read-only: it never creates the file or its directory, never
    migrates, and shares the file with other readers instead of taking the write lock.
    """

    def __init__(self, path: Path, *, read_only: bool = False, wait_s: float | None = None) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.wait_s = float(wait_s if wait_s is not None else wait_seconds_from_env())
        self._migrated = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()!r}, read_only={self.read_only})"

    def describe(self) -> str:
        """Where the warehouse is, safe to print (no credentials)."""
        return str(self.path)

    # -- connections ---------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for one unit of work; plain DuckDB SQL runs on it. Writers get the schema migrated first."""
        read_only = read_only or self.read_only
        con = self._open(read_only)
        try:
            if not read_only and not self._migrated:
                self._migrate_with_retry(con)
            yield con
        except duckdb.Error as exc:
            full = disk_full_error(exc, self.describe())
            if full is None:
                raise
            raise full from exc
        finally:
            self._release(con)

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        """A cursor on this process's one open instance of the file, opening it (and waiting for it) if needed.

        Threads share one instance: DuckDB refuses a second open of a file that one process already has open.
        When the last cursor closes the instance closes too, releasing the file lock for other processes.
        """
        key = str(self.path.absolute())
        with _OPEN_FILES_CHANGED:
            while True:
                entry = _OPEN_FILES.get(key)
                if entry is not None and entry.pid != os.getpid():
                    del _OPEN_FILES[key]  # inherited through fork: the parent's instance is not ours to use
                    entry = None
                if entry is None:
                    break
                if entry.read_only and not read_only:
                    _OPEN_FILES_CHANGED.wait()  # a writer needs a read-write instance: wait for the readers
                    continue
                entry.users += 1
                return entry.db.cursor()
            db = self._connect_file(read_only)
            _OPEN_FILES[key] = _OpenFile(db, read_only, 1, os.getpid())
            return db.cursor()

    def _release(self, con: duckdb.DuckDBPyConnection) -> None:
        con.close()
        key = str(self.path.absolute())
        with _OPEN_FILES_CHANGED:
            entry = _OPEN_FILES.get(key)
            if entry is None or entry.pid != os.getpid():
                return
            entry.users -= 1
            if entry.users == 0:
                entry.db.close()
                del _OPEN_FILES[key]
                _OPEN_FILES_CHANGED.notify_all()

    def _connect_file(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        if read_only and not self.path.exists():
            raise WarehouseNotFoundError(
                f"no warehouse at {self.path}: run a stage first (e.g. `knowrl demo`), "
                f"or check KNOWRL_HOME (now {self.path.parent})"
            )
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        last_log = None
        delays = backoff_delays()
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.IOException as exc:
                full = disk_full_error(exc, self.path)
                if full is not None:
                    raise full from exc
                message = str(exc)
                if "newer version of duckdb" in message.lower():
                    raise WarehouseVersionError(
                        f"{self.path} was written by a newer DuckDB than {duckdb.__version__} (pinned for the "
                        "DuckLake extensions); move it aside to start a new warehouse, or export it with that "
                        "newer DuckDB (EXPORT DATABASE) and IMPORT DATABASE it with this one"
                    ) from exc
                if not _LOCKED.search(message):
                    raise
                waited = time.monotonic() - started
                holder = _HOLDER.search(message)
                who = f"PID {holder.group(1)}" if holder else "another process"
                if waited >= self.wait_s:
                    raise WarehouseBusyError(
                        f"{self.path} stayed locked by {who} for {waited:.0f} s (KNOWRL_WAREHOUSE_WAIT_S="
                        f"{self.wait_s:g}): wait for the running stage or worker to finish, raise "
                        "KNOWRL_WAREHOUSE_WAIT_S, or use the remote profile (KNOWRL_WAREHOUSE_URL) for concurrent "
                        "writers"
                    ) from exc
                if last_log is None:
                    log.info("warehouse %s is locked by %s: waiting up to %.0f s for it", self.path, who, self.wait_s)
                    last_log = time.monotonic()
                elif time.monotonic() - last_log >= _LOG_EVERY_S:
                    log.warning(
                        "still waiting for the lock on %s held by %s (%.0f s of %.0f s)",
                        self.path,
                        who,
                        waited,
                        self.wait_s,
                    )
                    last_log = time.monotonic()
                time.sleep(min(next(delays), max(0.0, self.wait_s - waited) + 0.01))

    # -- reading and writing -------------------------------------------------------------------------------------

    def query(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        """Rows of a SELECT as dicts keyed by column name."""
        with self.connect() as con:
            result = con.execute(sql, params or [])
            names = [d[0] for d in result.description]
            return [dict(zip(names, row, strict=True)) for row in result.fetchall()]

    def write(self, fn: Callable[[duckdb.DuckDBPyConnection], T], *, serialize: str | None = None) -> T:
        """Run `fn(con)` in one transaction and commit; a transaction conflict re-runs it from the start.

        `serialize` names a write-lock family (schema.WRITE_LOCKS): transactions of one family commit one after
        the other, so an insert-where-not-exists in `fn` can never add the same key twice.
        """
        if self.read_only:
            raise WarehouseError(f"{self.describe()} was opened read-only; open it with read_only=False to write")
        if serialize is not None and serialize not in WRITE_LOCKS:
            raise StorageConfigError(
                f"unknown write-lock family {serialize!r}; use one of {sorted(WRITE_LOCKS)} or add a migration "
                "that creates its table"
            )
        started = time.monotonic()
        delays = backoff_delays()
        attempt = 0
        while True:
            attempt += 1
            with self.connect() as con:
                con.execute("BEGIN TRANSACTION")
                try:
                    if serialize is not None:
                        con.execute(f"UPDATE write_lock_{serialize} SET n = n + 1")
                    result = fn(con)
                    con.execute("COMMIT")
                    return result
                except duckdb.Error as exc:
                    _rollback(con)
                    waited = time.monotonic() - started
                    if not is_conflict(exc):
                        raise
                    if waited >= self.wait_s:
                        raise WarehouseBusyError(
                            f"a write to {self.describe()} kept conflicting with other writers for {waited:.0f} s "
                            f"({attempt} tries, KNOWRL_WAREHOUSE_WAIT_S={self.wait_s:g}); raise "
                            "KNOWRL_WAREHOUSE_WAIT_S or run fewer writers of the same tables at once"
                        ) from exc
                    level = logging.INFO if attempt >= 5 else logging.DEBUG
                    log.log(level, "write to %s conflicted with another writer (try %d): retrying", self, attempt)
                except BaseException:
                    _rollback(con)
                    raise
            time.sleep(next(delays))

    def schema_version(self) -> int:
        with self.connect() as con:
            return con.execute("SELECT max(version) FROM schema_version").fetchall()[0][0]

    # -- schema --------------------------------------------------------------------------------------------------

    def _translate(self, statement: str) -> str:
        """The migration statement in this warehouse's dialect (DuckLake drops key constraints)."""
        return statement

    def _apply(self, con: duckdb.DuckDBPyConnection, statement: str) -> None:
        """Run one migration statement (inside the migration's transaction)."""
        con.execute(self._translate(statement))

    def _after_migration(self, con: duckdb.DuckDBPyConnection) -> None:
        """Work that must follow a migration's commit (DuckLake: per-table options of tables it created)."""

    def _migrate_with_retry(self, con: duckdb.DuckDBPyConnection) -> None:
        started = time.monotonic()
        delays = backoff_delays()
        while True:
            try:
                self._migrate(con)
                return
            except duckdb.Error as exc:
                _rollback(con)
                if not is_conflict(exc) or time.monotonic() - started >= self.wait_s:
                    raise
                log.debug("schema migration of %s conflicted with another process: retrying", self)
            time.sleep(next(delays))

    def _migrate(self, con: duckdb.DuckDBPyConnection) -> None:
        try:
            applied = {row[0] for row in con.execute("SELECT version FROM schema_version").fetchall()}
        except duckdb.CatalogException:  # a new warehouse
            applied = set()
        if applied >= {version for version, _, _ in MIGRATIONS}:
            self._migrated = True  # the common case, one query: nothing to do
            return
        # schema_lock serialises migrations between processes (DuckLake: concurrent migrators conflict on it).
        con.execute("BEGIN TRANSACTION")
        con.execute(
            self._translate(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)"
            )
        )
        con.execute("CREATE TABLE IF NOT EXISTS schema_lock (n BIGINT NOT NULL)")
        if con.execute("SELECT count(*) FROM schema_lock").fetchall()[0][0] == 0:
            con.execute("INSERT INTO schema_lock VALUES (0)")
        con.execute("COMMIT")
        applied = {row[0] for row in con.execute("SELECT version FROM schema_version").fetchall()}
        for version, name, statements in MIGRATIONS:
            if version in applied:
                continue
            con.execute("BEGIN TRANSACTION")
            con.execute("UPDATE schema_lock SET n = n + 1")
            # Another process may have applied it since we looked: decide again inside this transaction's snapshot.
            done = con.execute("SELECT count(*) FROM schema_version WHERE version = ?", [version]).fetchall()[0][0]
            if done:
                con.execute("ROLLBACK")
                continue
            for statement in statements:
                self._apply(con, statement)
            con.execute("INSERT INTO schema_version VALUES (?, ?, now())", [version, name])
            con.execute("COMMIT")
            self._after_migration(con)
            log.debug("warehouse %s: applied migration %d (%s)", self, version, name)
        self._migrated = True
