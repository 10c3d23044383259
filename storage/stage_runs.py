"""SQL for the record of completed stage runs: what `knowrl status` and stage selection read."""

from __future__ import annotations

import json
import uuid
from typing import Any

import duckdb

from storage.warehouse import Warehouse, WarehouseNotFoundError


class StageRuns:
    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def record(self, stage: str, cache_key: str, config_hash: str, ref: dict[str, Any]) -> None:
        with self.warehouse.connect() as con:
            con.execute(
                "INSERT INTO stage_runs VALUES (?, ?, ?, ?, ?, now())",
                [uuid.uuid4().hex, stage, cache_key, config_hash, json.dumps(ref, default=str)],
            )

    def latest(
        self, stage: str, config_hash: str | None = None, cache_key: str | None = None
    ) -> dict[str, Any] | None:
        """The last completed run of `stage`, optionally the last with this config hash and/or full cache key."""
        query = "SELECT cache_key, config_hash, ref, finished_at FROM stage_runs WHERE stage = ?"
        params: list[Any] = [stage]
        if config_hash is not None:
            query += " AND config_hash = ?"
            params.append(config_hash)
        if cache_key is not None:
            query += " AND cache_key = ?"
            params.append(cache_key)
        with self.warehouse.connect() as con:
            try:
                row = con.execute(query + " ORDER BY finished_at DESC LIMIT 1", params).fetchall()
            except duckdb.CatalogException as exc:  # opened read-only before any stage created the table
                raise WarehouseNotFoundError(
                    f"the warehouse {self.warehouse.describe()} holds no stage runs yet; run a stage first"
                ) from exc
        if not row:
            return None
        row = row[0]
        return {"cache_key": row[0], "config_hash": row[1], "ref": json.loads(row[2]), "finished_at": row[3]}
