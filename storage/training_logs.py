"""SQL for per-step training metrics (loss, rewards and their parts, KL, lengths)."""

from __future__ import annotations

from typing import Any

from storage.warehouse import Warehouse


class TrainingLogs:
    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def append(self, run_key: str, stage: str, step: int, metrics: dict[str, float]) -> None:
        with self.warehouse.connect() as con:
            con.executemany(
                "INSERT INTO train_logs VALUES (?, ?, ?, ?, ?, now())",
                [[run_key, stage, step, name, value] for name, value in metrics.items()],
            )

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
        with self.warehouse.connect() as con:
            con.execute("DELETE FROM train_logs WHERE run_key = ? AND step > ?", [run_key, after_step])

    def rows(self, run_key: str) -> list[dict[str, Any]]:
        with self.warehouse.connect() as con:
            result = con.execute(
                "SELECT step, metric, value FROM train_logs WHERE run_key = ? ORDER BY step, metric", [run_key]
            )
            return [dict(zip(("step", "metric", "value"), r, strict=True)) for r in result.fetchall()]
