"""The local warehouse: schema migrations, waiting for another process's lock, read-only opens, idempotent writes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from storage import Paths, Warehouse, WarehouseBusyError, WarehouseNotFoundError, open_warehouse
from storage.datasets import DatasetTables, LoadRecord
from storage.knowledge import KnowledgeTables
from storage.llm_cache import LLMCache
from storage.schema import LATEST_VERSION, MIGRATIONS, ducklake_statement
from storage.warehouse import is_conflict

REPO = Path(__file__).resolve().parents[2]


def test_schema_is_created_and_versioned(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    assert warehouse.schema_version() == LATEST_VERSION
    with warehouse.connect() as con:
        versions = [r[0] for r in con.execute("SELECT version FROM schema_version ORDER BY version").fetchall()]
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert versions == [m[0] for m in MIGRATIONS]
    assert {"dataset_loads", "rl_rows", "quarantine", "knowledge_passages", "llm_cache", "eval_items"} <= tables


def test_migration_versions_increase_and_translate_for_ducklake() -> None:
    versions = [m[0] for m in MIGRATIONS]
    assert versions == sorted(set(versions))
    for _, _, statements in MIGRATIONS:
        for statement in statements:
            assert "PRIMARY KEY" not in ducklake_statement(statement).upper()
    assert ducklake_statement("CREATE TABLE t (a VARCHAR PRIMARY KEY, b INT, PRIMARY KEY (a, b))") == (
        "CREATE TABLE t (a VARCHAR, b INT)"
    )


def test_migration_applies_only_missing_versions(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)")
    version, name, statements = MIGRATIONS[0]
    for statement in statements:
        con.execute(statement)
    con.execute("INSERT INTO schema_version VALUES (?, ?, now())", [version, name])
    con.execute("INSERT INTO stage_runs VALUES ('r', 'data', 'k', 'c', '{}', now())")
    con.close()
    warehouse = Warehouse(path)
    assert warehouse.schema_version() == LATEST_VERSION
    with warehouse.connect() as con:
        assert con.execute("SELECT count(*) FROM stage_runs").fetchall()[0][0] == 1  # old data kept


def test_read_only_without_file_names_the_fix_and_creates_nothing(tmp_path: Path) -> None:
    home = tmp_path / "misspelt-home"
    with (
        pytest.raises(WarehouseNotFoundError, match="run a stage first") as raised,
        Warehouse(home / "warehouse.duckdb").connect(read_only=True),
    ):
        pass
    assert str(home) in str(raised.value) and isinstance(raised.value, FileNotFoundError)
    with pytest.raises(WarehouseNotFoundError, match="KNOWRL_HOME"):
        open_warehouse(Paths(home), read_only=True).query("SELECT 1")
    assert not home.exists()  # neither the warehouse nor its directory


def test_read_only_connections_share_the_file(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    Warehouse(path).schema_version()
    reader = Warehouse(path, read_only=True)
    with reader.connect() as con:
        # Another process can read at the same time: a read-only open takes no write lock.
        code = f"import duckdb; print(duckdb.connect({str(path)!r}, read_only=True).execute('SELECT 42').fetchall())"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
        assert "42" in out.stdout
        with pytest.raises(duckdb.Error):
            con.execute("CREATE TABLE nope (a INT)")
    with pytest.raises(Exception, match="read-only"):
        reader.write(lambda con: None)


def _hold_lock(path: Path) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-m", "tests.support.storage_workers", "hold-lock", str(path)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


class _Seen(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.waiting = threading.Event()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        if "waiting" in record.getMessage():
            self.waiting.set()


@pytest.fixture
def storage_log():
    handler = _Seen()
    logger = logging.getLogger("knowrl.storage")
    old_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def _connect_in_thread(warehouse: Warehouse) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run() -> None:
        started = time.monotonic()
        try:
            with warehouse.connect() as con:
                con.execute("INSERT INTO stage_runs VALUES ('r2', 'data', 'k', 'c', '{}', now())")
            outcome["ok"] = time.monotonic() - started
        except Exception as exc:  # the test thread reports it
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_writer_waits_for_a_lock_held_by_another_process(tmp_path: Path, storage_log: _Seen) -> None:
    path = tmp_path / "w.duckdb"
    Warehouse(path).schema_version()
    holder = _hold_lock(path)
    try:
        thread, outcome = _connect_in_thread(Warehouse(path, wait_s=300))
        assert storage_log.waiting.wait(120), storage_log.messages  # it waits (and says so) instead of failing
        assert thread.is_alive() and not outcome
        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"
        thread.join(120)
        assert "ok" in outcome, outcome
    finally:
        holder.kill()
        holder.wait()
    assert any(f"PID {holder.pid}" in m for m in storage_log.messages)
    assert Warehouse(path).query("SELECT count(*) AS n FROM stage_runs")[0]["n"] == 1


def test_lock_held_too_long_is_a_clear_error_after_the_wait(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    Warehouse(path).schema_version()
    holder = _hold_lock(path)
    try:
        started = time.monotonic()
        with (
            pytest.raises(WarehouseBusyError, match="KNOWRL_WAREHOUSE_WAIT_S") as raised,
            Warehouse(path, wait_s=1.0).connect(),
        ):
            pass
        assert time.monotonic() - started >= 1.0  # it did wait the configured time first
        assert str(path) in str(raised.value) and f"PID {holder.pid}" in str(raised.value)
    finally:
        holder.kill()
        holder.wait()


def test_lock_of_a_killed_holder_does_not_block(tmp_path: Path, storage_log: _Seen) -> None:
    path = tmp_path / "w.duckdb"
    Warehouse(path).schema_version()
    holder = _hold_lock(path)
    thread, outcome = _connect_in_thread(Warehouse(path, wait_s=300))
    try:
        assert storage_log.waiting.wait(120), storage_log.messages
        os.kill(holder.pid, signal.SIGKILL)  # no clean shutdown: the OS drops the file lock with the process
    finally:
        holder.wait()
    thread.join(120)
    assert "ok" in outcome, outcome


def test_wait_limit_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KNOWRL_WAREHOUSE_WAIT_S", "7.5")
    assert Warehouse(tmp_path / "w.duckdb").wait_s == 7.5
    assert open_warehouse(Paths(tmp_path)).wait_s == 7.5
    monkeypatch.setenv("KNOWRL_WAREHOUSE_WAIT_S", "soon")
    with pytest.raises(ValueError, match="KNOWRL_WAREHOUSE_WAIT_S='soon'"):
        Warehouse(tmp_path / "w.duckdb")


def _segment(tables: KnowledgeTables) -> None:
    tables.add_segment(
        "store",
        "seg-1",
        [{"title_key": "paris", "title": "Paris", "n_passages": 2, "source": "kb"}],
        [{"title_key": "paris", "passage_idx": i, "text": f"p{i}"} for i in range(2)],
        ["paris", "paris"],
        [{"title": None, "reason": "empty page"}],
    )


def _count(warehouse: Warehouse, table: str) -> int:
    return warehouse.query(f"SELECT count(*) AS n FROM {table}")[0]["n"]


def test_registering_the_same_segment_twice_is_a_no_op(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    tables = KnowledgeTables(warehouse)
    _segment(tables)
    _segment(tables)  # used to fail: ConstraintException "Duplicate key store_key ..., segment_id ..."
    assert tables.segments("store") == ["seg-1"]
    assert tables.passages("store", "paris") == ["p0", "p1"]
    counts = {t: _count(warehouse, t) for t in ("knowledge_pages", "knowledge_searched", "knowledge_quarantine")}
    assert counts == {"knowledge_pages": 1, "knowledge_searched": 1, "knowledge_quarantine": 1}


def test_registering_the_same_dataset_load_twice_stores_its_rows_once(tmp_path: Path) -> None:
    tables = DatasetTables(Warehouse(tmp_path / "w.duckdb"))
    record = LoadRecord("rl", "demo", None, "src", "fp-1", "cfg", 2, 2, 0)
    rows = [
        {"row_id": f"r{i}", "source_row": i, "question": "q", "answers": ["a"], "titles": ["T"], "split": "train"}
        for i in range(2)
    ]
    first_id, first_new = tables.record_load(record, rows, [])
    second_id, second_new = tables.record_load(record, rows, [])
    assert (first_new, second_new) == (True, False) and first_id != second_id
    assert [r["row_id"] for r in tables.rl_rows("fp-1")] == ["r0", "r1"]


def test_llm_cache_put_is_idempotent_and_first_writer_wins(tmp_path: Path) -> None:
    cache = LLMCache(Warehouse(tmp_path / "w.duckdb"))
    cache.put_many("http", "judge", {"k1": "first", "k2": "b"})
    cache.put_many("http", "judge", {"k1": "second", "k3": "c"})
    assert cache.count() == 3 and cache.get_many(["k1", "k3", "nope"]) == {"k1": "first", "k3": "c"}


def test_concurrent_writers_in_one_process_are_retried_not_failed(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    cache = LLMCache(warehouse)
    cache.count()
    errors: list[BaseException] = []

    def put(worker: int) -> None:
        try:
            for i in range(15):
                cache.put_many("http", "judge", {f"shared-{i}": "x", f"own-{worker}-{i}": "y"})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=put, args=(w,)) for w in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert errors == []
    assert cache.count() == 15 + 3 * 15
    assert _count(warehouse, "llm_cache") == 60  # no duplicate of a shared key


def test_a_postgres_serialization_failure_is_a_conflict_to_retry() -> None:
    # What DuckLake on PostgreSQL raised when two processes migrated the lake at once (tests/storage/test_lake.py's
    # two writers, seen once): a generic duckdb.Error, to be retried like DuckDB's own conflicts.
    lost = duckdb.Error(
        'Failed to insert config option in DuckLake: Failed to execute query "UPDATE ..." : ERROR:  could not '
        "serialize access due to concurrent update"
    )
    assert is_conflict(lost)
    assert is_conflict(duckdb.TransactionException("TransactionContext Error: Catalog write-write conflict"))
    assert not is_conflict(duckdb.Error("Parser Error: syntax error at or near SELEC"))
    assert not is_conflict(duckdb.TransactionException("TransactionContext Error: cannot commit: read only"))
