from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from storage import Warehouse, WarehouseBusyError
from storage.schema import LATEST_VERSION, MIGRATIONS


def test_schema_is_created_and_versioned(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    assert warehouse.schema_version() == LATEST_VERSION
    with warehouse.connect() as con:
        versions = [r[0] for r in con.execute("SELECT version FROM schema_version ORDER BY version").fetchall()]
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert versions == [m[0] for m in MIGRATIONS]
    assert {"dataset_loads", "rl_rows", "quarantine", "knowledge_passages", "llm_cache", "eval_items"} <= tables


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


def test_read_only_without_file_names_the_fix(tmp_path: Path) -> None:
    with (
        pytest.raises(FileNotFoundError, match="run a stage first"),
        Warehouse(tmp_path / "none.duckdb").connect(read_only=True),
    ):
        pass


def test_lock_held_by_another_process_is_a_clear_error(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    path = tmp_path / "w.duckdb"
    Warehouse(path).schema_version()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('ok', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ok"
        time.sleep(0.2)
        with pytest.raises(WarehouseBusyError, match="locked by another process"), Warehouse(path).connect():
            pass
    finally:
        holder.kill()
