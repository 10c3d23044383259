"""The remote warehouse: DuckLake with a PostgreSQL catalog and its data on S3 (moto), written by several processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import Paths, WarehouseNotFoundError, open_warehouse
from storage.datasets import DatasetTables
from storage.evaluations import EvalTables
from storage.knowledge import KnowledgeTables
from storage.lake import LakeWarehouse
from storage.llm_cache import LLMCache
from storage.schema import LATEST_VERSION
from storage.stage_runs import StageRuns
from storage.training_logs import TrainingLogs
from tests.support.storage_workers import run_together

REPO = Path(__file__).resolve().parents[2]


def test_profile_opens_a_migrated_lake_that_runs_the_same_sql(remote_profile, tmp_path: Path) -> None:
    warehouse = open_warehouse(Paths(tmp_path / "home"))
    assert isinstance(warehouse, LakeWarehouse)
    assert warehouse.schema_version() == LATEST_VERSION
    StageRuns(warehouse).record("data", "key", "cfg", {"fingerprint": "fp"})
    assert StageRuns(warehouse).latest("data")["ref"] == {"fingerprint": "fp"}
    EvalTables(warehouse).store(
        "ek",
        "model",
        "bench",
        "bfp",
        [{"item_id": "i1", "question": "q", "generation": "g", "answer": "a", "parse_status": "ok",
          "followed_format": True, "grade": "correct", "score": 1.0, "details": {"x": 1}}],
        {"accuracy": 1.0},
    )  # fmt: skip
    assert EvalTables(warehouse).metrics("ek") == {"accuracy": 1.0}
    with warehouse.connect() as con:  # plain DuckDB SQL on the caller's side, as with the local file
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"rl_rows", "llm_cache", "knowledge_segments", "write_lock_knowledge"} <= tables
    # Parquet data went to the object store, under the artifacts URL's lake/ prefix.
    TrainingLogs(warehouse).append_many("run", "grpo", [(s, {"loss": 1.0, "kl": 0.1}) for s in range(40)])
    keys = remote_profile.s3.objects(remote_profile.bucket)
    assert any(k.startswith("knowrl/lake/") and k.endswith(".parquet") for k in keys), sorted(keys)[:10]
    assert not (tmp_path / "home" / "warehouse.duckdb").exists()


def test_read_only_open_of_a_lake_that_does_not_exist_names_the_fix(remote_profile, tmp_path: Path) -> None:
    with pytest.raises(WarehouseNotFoundError, match="KNOWRL_WAREHOUSE_URL"):
        open_warehouse(Paths(tmp_path), read_only=True).query("SELECT 1")


def test_registration_is_idempotent_on_the_lake(remote_profile, tmp_path: Path) -> None:
    warehouse = open_warehouse(Paths(tmp_path))
    tables = KnowledgeTables(warehouse)
    for _ in range(2):
        tables.add_segment(
            "s",
            "seg",
            [{"title_key": "t", "title": "T", "n_passages": 1, "source": "kb"}],
            [{"title_key": "t", "passage_idx": 0, "text": "x"}],
            ["t"],
            [],
        )
    assert tables.segments("s") == ["seg"] and tables.passages("s", "t") == ["x"]
    cache = LLMCache(warehouse)
    cache.put_many("b", "m", {"k": "first"})
    cache.put_many("b", "m", {"k": "second"})
    assert cache.get_many(["k"]) == {"k": "first"} and cache.count() == 1


def test_two_processes_write_the_lake_at_once(remote_profile, tmp_path: Path) -> None:
    steps = 8
    commands = [["lake-writer", str(tmp_path / f"home{i}"), str(i), "--steps", str(steps)] for i in range(2)]
    results = run_together(commands, tmp_path / "go", REPO, timeout=480)
    # The same dataset version was registered by both: exactly one of them recorded it as new.
    assert sorted(r["new_version"] for r in results) == [False, True]
    warehouse = open_warehouse(Paths(tmp_path / "reader"))
    count = {
        table: warehouse.query(f"SELECT count(*) AS n FROM {table}")[0]["n"]
        for table in ("train_logs", "llm_cache", "knowledge_segments", "knowledge_passages", "rl_rows")
    }
    assert count == {
        "train_logs": 2 * steps * 2,  # every worker's own rows: nothing lost
        "llm_cache": steps + 2 * steps,  # shared keys once, own keys of each
        "knowledge_segments": 1,  # registered by both, stored once
        "knowledge_passages": 2,
        "rl_rows": 2,
    }
    assert DatasetTables(warehouse).rl_rows("fp-shared")[0]["row_id"] == "r0"


def test_a_commit_conflict_is_retried_and_the_retry_adds_nothing(remote_profile, tmp_path: Path) -> None:
    warehouse = open_warehouse(Paths(tmp_path))
    KnowledgeTables(warehouse).segments("s")  # migrated
    insert = (
        "INSERT INTO knowledge_segments SELECT 's', 'seg', 1, 1, now() WHERE NOT EXISTS "
        "(SELECT 1 FROM knowledge_segments WHERE store_key = 's' AND segment_id = 'seg')"
    )
    attempts: list[int] = []
    with warehouse.connect() as other:
        other.execute("BEGIN TRANSACTION")
        other.execute("UPDATE write_lock_knowledge SET n = n + 1")
        other.execute(insert)

        def register(con) -> None:
            attempts.append(len(attempts) + 1)
            con.execute(insert)
            if len(attempts) == 1:
                other.execute("COMMIT")  # the competing worker commits first: our commit must conflict

        warehouse.write(register, serialize="knowledge")
    assert attempts == [1, 2]
    assert KnowledgeTables(warehouse).segments("s") == ["seg"]
