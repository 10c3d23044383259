"""SQL for per-step training metrics (loss, rewards and their parts, KL, lengths)."""

from __future__ import annotations

import pyarrow as pa

from storage.warehouse import Warehouse


class TrainingLogs:
    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def append_many(self, run_key: str, stage: str, entries: list[tuple[int, dict[str, float]]]) -> None:
        """Rows of several logged steps, (step, {metric: value}) each, in one transaction."""
        pairs = [(step, name, value) for step, metrics in entries for name, value in metrics.items()]
        if not pairs:
            return
        table = pa.table(
            {
                "run_key": [run_key] * len(pairs),
                "stage": [stage] * len(pairs),
                "step": [p[0] for p in pairs],
                "metric": [p[1] for p in pairs],
                "value": [p[2] for p in pairs],
            }
        )
        with self.warehouse.connect() as con:
            con.register("incoming", table)
            con.execute("INSERT INTO train_logs SELECT run_key, stage, step, metric, value, now() FROM incoming")
            con.unregister("incoming")

    def series(self, run_key: str, metric: str) -> list[tuple[int, float]]:
        with self.warehouse.connect() as con:
            rows = con.execute(
                "SELECT step, avg(value) FROM train_logs WHERE run_key = ? AND metric = ? GROUP BY step ORDER BY step",
                [run_key, metric],
            ).fetchall()
        return [(int(s), float(v)) for s, v in rows]

    def metrics(self, run_key: str) -> list[str]:
        with self.warehouse.connect() as con:
            rows = con.execute(
                "SELECT DISTINCT metric FROM train_logs WHERE run_key = ? ORDER BY metric", [run_key]
            ).fetchall()
        return [r[0] for r in rows]

    def clear(self, run_key: str, after_step: int) -> None:
        """Forget steps a resumed run will redo (logged after its last complete checkpoint)."""
        # Through `write`: on DuckLake two deletes from one table may conflict, and a conflict is retried.
        self.warehouse.write(
            lambda con: con.execute("DELETE FROM train_logs WHERE run_key = ? AND step > ?", [run_key, after_step])
        )
