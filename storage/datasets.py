"""SQL for the data stage: dataset versions, accepted rows, quarantine, load history."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

import duckdb
import pyarrow as pa

from storage.warehouse import Warehouse


@dataclass(frozen=True)
class LoadRecord:
    kind: str
    source: str
    revision: str | None
    source_fingerprint: str
    fingerprint: str
    config_hash: str
    n_read: int
    n_accepted: int
    n_quarantined: int


class DatasetTables:
    """Rows are stored per dataset fingerprint: a new revision adds a version, old ones stay intact."""

    ROW_TABLES: ClassVar[dict[str, str]] = {"rl": "rl_rows", "coldstart": "coldstart_rows"}

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def record_load(
        self, record: LoadRecord, rows: list[dict[str, Any]], quarantined: list[dict[str, Any]]
    ) -> tuple[str, bool]:
        """Store a load in one transaction; rows are inserted only for a fingerprint not seen before (idempotent).

        Returns the load id and whether this fingerprint is a new version for its source.
        """
        table = self.ROW_TABLES[record.kind]
        load_id = uuid.uuid4().hex

        def register(con: duckdb.DuckDBPyConnection) -> bool:
            seen = con.execute(
                "SELECT count(*) FROM dataset_loads WHERE kind = ? AND source = ? AND fingerprint = ?",
                [record.kind, record.source, record.fingerprint],
            ).fetchall()[0][0]
            exists = con.execute(
                f"SELECT count(*) FROM {table} WHERE fingerprint = ?", [record.fingerprint]
            ).fetchall()
            if rows and not exists[0][0]:
                arrow_rows = pa.Table.from_pylist([{"fingerprint": record.fingerprint, **r} for r in rows])
                con.register("incoming_rows", arrow_rows)
                columns = ", ".join(arrow_rows.column_names)
                con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM incoming_rows")
                con.unregister("incoming_rows")
            if quarantined:
                con.executemany(
                    "INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        [load_id, record.kind, record.source, q["source_row"], q["reason"], q.get("raw")]
                        for q in quarantined
                    ],
                )
            con.execute(
                "INSERT INTO dataset_loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())",
                [
                    load_id,
                    record.kind,
                    record.source,
                    record.revision,
                    record.source_fingerprint,
                    record.fingerprint,
                    record.config_hash,
                    record.n_read,
                    record.n_accepted,
                    record.n_quarantined,
                    seen == 0,
                ],
            )
            return seen == 0

        # Serialised with other loads: two workers loading the same version store its rows once, and exactly one
        # of them records it as new; each load keeps its own history row and quarantine (looked up by load id).
        return load_id, self.warehouse.write(register, serialize="datasets")

    def rl_rows(self, fingerprint: str, split: str | None = "train") -> list[dict[str, Any]]:
        # Rows loaded before the topic column existed get their titles joined as the topic.
        columns = "row_id, question, answers, titles, coalesce(topic, array_to_string(titles, ';')) AS topic, split"
        return self._rows("rl_rows", columns, fingerprint, split)

    def coldstart_rows(self, fingerprint: str, split: str | None = "train") -> list[dict[str, Any]]:
        return self._rows("coldstart_rows", "row_id, prompt, response, split", fingerprint, split)

    def _rows(self, table: str, columns: str, fingerprint: str, split: str | None) -> list[dict[str, Any]]:
        query = f"SELECT {columns} FROM {table} WHERE fingerprint = ?"
        params: list[Any] = [fingerprint]
        if split is not None:
            query += " AND split = ?"
            params.append(split)
        return self.warehouse.query(query + " ORDER BY source_row", params)

    def quarantine(self, load_id: str) -> list[dict[str, Any]]:
        return self.warehouse.query(
            "SELECT kind, source, source_row, reason, raw FROM quarantine WHERE load_id = ? ORDER BY source_row",
            [load_id],
        )

    def history(self, limit: int = 20) -> list[dict[str, Any]]:
        return self.warehouse.query(
            "SELECT kind, source, revision, fingerprint, n_read, n_accepted, n_quarantined, is_new_version, "
            "loaded_at FROM dataset_loads ORDER BY loaded_at DESC LIMIT ?",
            [limit],
        )


def dumps_raw(value: Any) -> str:
    """A quarantined row's raw form, kept for inspection (truncated: a bad row may be huge)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text[:2000]
