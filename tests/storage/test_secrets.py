"""Credentials never leave the environment: not in logs, manifests, warehouse rows, stored objects or files."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from storage import Paths, StorageProfile, open_artifacts, open_checkpoints, open_warehouse
from storage.lake import LakeWarehouse, WarehouseConnectError
from storage.llm_cache import LLMCache
from storage.stage_runs import StageRuns
from storage.training_logs import TrainingLogs


def _files_containing(root: Path, secrets: list[bytes]) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                data = path.read_bytes()
            except OSError:  # a socket or a file the server holds exclusively: nothing stored there
                continue
            hits += [f"{path}: {s[:6]!r}..." for s in secrets if s in data]
    return hits


def test_credentials_appear_in_no_log_manifest_row_or_object(remote_profile, tmp_path: Path) -> None:
    url_password = "url-pw-7f3a9c"
    secrets = [remote_profile.s3.secret_key, remote_profile.postgres.password, url_password]
    log_file = tmp_path / "all.log"
    handler = logging.FileHandler(log_file)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)  # everything: ours, botocore, s3fs, fsspec
    try:
        home = tmp_path / "home"
        paths = Paths(home)
        warehouse = open_warehouse(paths)
        StageRuns(warehouse).record("data", "k", "c", {"fingerprint": "fp"})
        LLMCache(warehouse).put_many("http", "judge", {"key": "response"})
        TrainingLogs(warehouse).append_many("r", "grpo", [(s, {"loss": 1.0}) for s in range(20)])  # a Parquet file
        store = open_artifacts(paths)
        artifact = store.write("sft", lambda d: (d / "w.bin").write_bytes(b"weights"), config={"lr": 1})
        open_artifacts(Paths(tmp_path / "other")).open(artifact.artifact_id, stage="sft")
        checkpoint = home / "runs" / "r" / "checkpoint-1"
        checkpoint.mkdir(parents=True)
        (checkpoint / "state.json").write_text("{}")
        open_checkpoints(paths).upload("r", checkpoint)
        # A wrong password inside the URL: the error must not repeat it (DuckDB's own message does).
        bad = StorageProfile(
            artifacts_url=remote_profile.artifacts_url,
            warehouse_url=f"{remote_profile.env['KNOWRL_WAREHOUSE_URL']} password={url_password}",
            lake_data_url=f"{remote_profile.artifacts_url}/lake-bad/",
        )
        with pytest.raises(WarehouseConnectError) as raised:
            LakeWarehouse(bad).query("SELECT 1")
        logging.getLogger("test").error("attach failed: %s", raised.value)
        rows = []
        with warehouse.connect() as con:
            tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
            for table in tables:
                rows += [str(row) for row in con.execute(f"SELECT * FROM {table}").fetchall()]
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()

    assert "password=***" in str(raised.value) and url_password not in str(raised.value)
    assert raised.value.__context__ is None and raised.value.__cause__ is None  # DuckDB's unredacted message
    assert len(log_file.read_text()) > 0
    encoded = [s.encode() for s in secrets]
    assert _files_containing(tmp_path, encoded) == []  # the log, both caches, manifests, run directories
    assert not [r for r in rows for s in secrets if s in r]  # warehouse rows
    objects = remote_profile.s3.objects(remote_profile.bucket)  # manifests, lake Parquet, checkpoint marker
    assert any(k.endswith("manifest.json") for k in objects) and any(k.endswith(".parquet") for k in objects)
    assert [k for k, data in objects.items() for s in encoded if s in data] == []
    # The catalog database's files (the PostgreSQL server's data directory and its log).
    assert _files_containing(remote_profile.postgres.data.parent, [remote_profile.s3.secret_key.encode()]) == []
    assert _files_containing(remote_profile.postgres.data.parent, [url_password.encode()]) == []
