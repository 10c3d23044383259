"""SQL for the record of publications (what was pushed where, with which metrics)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from storage.warehouse import Warehouse


class Publications:
    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def record(self, ref: dict[str, Any], model_artifact: str, metrics: dict[str, Any]) -> None:
        with self.warehouse.connect() as con:
            con.execute(
                "INSERT INTO publications VALUES (?, ?, ?, ?, ?, ?, ?, ?, now())",
                [
                    uuid.uuid4().hex,
                    ref["repo_id"],
                    ref.get("commit"),
                    model_artifact,
                    ref["artifact_id"],
                    json.dumps(metrics),
                    ref["pushed"],
                    ref.get("url"),
                ],
            )

    def latest(self) -> dict[str, Any] | None:
        """The newest publication: pushed ones first, else the newest dry-run bundle."""
        with self.warehouse.connect() as con:
            rows = con.execute(
                "SELECT model_artifact, bundle_artifact, metrics, revision FROM publications "
                "ORDER BY pushed DESC, published_at DESC LIMIT 1"
            ).fetchall()
        if not rows:
            return None
        model, bundle, metrics, revision = rows[0]
        return {
            "model_artifact": model,
            "bundle_artifact": bundle,
            "metrics": json.loads(metrics),
            "revision": revision,
        }
