"""SQL for evaluation results: every generation and grade per item, and metrics per (model, benchmark)."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pyarrow as pa

from storage.warehouse import Warehouse


class EvalTables:
    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def items(self, eval_key: str) -> list[dict[str, Any]]:
        rows = self.warehouse.query(
            "SELECT item_id, question, generation, answer, parse_status, followed_format, grade, score, details "
            "FROM eval_items WHERE eval_key = ? ORDER BY created_at, item_id",
            [eval_key],
        )
        for row in rows:
            row["details"] = json.loads(row["details"]) if row["details"] else {}
        return rows

    def store(
        self,
        eval_key: str,
        model_id: str,
        benchmark: str,
        fingerprint: str,
        items: list[dict[str, Any]],
        metrics: dict[str, float],
    ) -> None:
        table = pa.Table.from_pylist(
            [
                {
                    "eval_key": eval_key,
                    "model_id": model_id,
                    "benchmark": benchmark,
                    "benchmark_fingerprint": fingerprint,
                    **{k: v for k, v in i.items() if k != "details"},
                    "details": json.dumps(i.get("details") or {}),
                }
                for i in items
            ]
        )

        def replace(con: duckdb.DuckDBPyConnection) -> None:
            con.execute("DELETE FROM eval_items WHERE eval_key = ?", [eval_key])
            con.execute("DELETE FROM eval_metrics WHERE eval_key = ?", [eval_key])
            con.register("incoming", table)
            con.execute(
                "INSERT INTO eval_items (eval_key, model_id, benchmark, benchmark_fingerprint, item_id, question, "
                "generation, answer, parse_status, grade, score, details, created_at, followed_format) "
                "SELECT eval_key, model_id, benchmark, benchmark_fingerprint, item_id, question, generation, "
                "answer, parse_status, grade, score, details, now(), followed_format FROM incoming"
            )
            con.unregister("incoming")
            con.executemany(
                "INSERT INTO eval_metrics VALUES (?, ?, ?, ?, ?)",
                [[eval_key, model_id, benchmark, name, value] for name, value in metrics.items()],
            )

        # Serialised: two workers evaluating the same key (a retried task) leave one copy, never two.
        self.warehouse.write(replace, serialize="evaluations")

    def metrics(self, eval_key: str) -> dict[str, float]:
        with self.warehouse.connect() as con:
            rows = con.execute("SELECT metric, value FROM eval_metrics WHERE eval_key = ?", [eval_key]).fetchall()
        return dict(rows)
