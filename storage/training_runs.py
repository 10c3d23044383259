"""SQL for the status of training runs (`train_runs`, one row per run key): whether a run is under way, completed,
or was stopped by its health limits, with the one-line reason, the step it stopped at and the checkpoint kept."""

from __future__ import annotations

from typing import Any, Literal

from storage.warehouse import Warehouse

RunStatus = Literal["started", "completed", "stopped"]


class TrainingRuns:
    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def mark(
        self,
        run_key: str,
        stage: str,
        status: RunStatus,
        *,
        reason: str | None = None,
        step: int | None = None,
        checkpoint: str | None = None,
    ) -> None:
        """Set the run's status (its row replaced in one transaction)."""

        def replace(con: Any) -> None:
            con.execute("DELETE FROM train_runs WHERE run_key = ?", [run_key])
            con.execute(
                "INSERT INTO train_runs VALUES (?, ?, ?, ?, ?, ?, now())",
                [run_key, stage, status, reason, step, checkpoint],
            )

        self.warehouse.write(replace)

    def get(self, run_key: str) -> dict[str, Any] | None:
        rows = self.warehouse.query(
            "SELECT run_key, stage, status, reason, step, checkpoint, updated_at FROM train_runs WHERE run_key = ?",
            [run_key],
        )
        return rows[0] if rows else None
