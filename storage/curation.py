"""SQL for curation: each RL question's graded samples from one model (pass rate, refusal rate, answer agreement,
bucket, the samples' answers and grades), under the key of (model, data, sampling and grading settings)."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pyarrow as pa

from storage.warehouse import Warehouse

_COLUMNS = "row_id, question, samples, correct, refused, pass_rate, refusal_rate, agreement, bucket, answers"


class CurationTables:
    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def questions(self, curate_key: str) -> list[dict[str, Any]]:
        """The stored questions of `curate_key` (in no particular order); `answers` decoded."""
        rows = self.warehouse.query(f"SELECT {_COLUMNS} FROM curate_questions WHERE curate_key = ?", [curate_key])
        for row in rows:
            row["answers"] = json.loads(row["answers"])
        return rows

    def store(self, curate_key: str, model_id: str, rl_fingerprint: str, rows: list[dict[str, Any]]) -> None:
        """Replace the questions of `curate_key` with `rows` (each with the columns above; `answers` a list)."""
        table = pa.Table.from_pylist(
            [
                {
                    "curate_key": curate_key,
                    "model_id": model_id,
                    "rl_fingerprint": rl_fingerprint,
                    **{k: v for k, v in row.items() if k != "answers"},
                    "answers": json.dumps(row.get("answers") or []),
                }
                for row in rows
            ]
        )

        def replace(con: duckdb.DuckDBPyConnection) -> None:
            con.execute("DELETE FROM curate_questions WHERE curate_key = ?", [curate_key])
            con.register("incoming", table)
            con.execute(
                f"INSERT INTO curate_questions (curate_key, model_id, rl_fingerprint, {_COLUMNS}, created_at) "
                f"SELECT curate_key, model_id, rl_fingerprint, {_COLUMNS}, now() FROM incoming"
            )
            con.unregister("incoming")

        # Serialised with the evaluation's writes (the same kind: a model's graded answers under one key), so a
        # retried task and its first try leave one copy, never two.
        self.warehouse.write(replace, serialize="evaluations")
