"""SQL for what a stage's judges, extractors and verifiers used: calls, cache hits, failures and tokens per role,
with the model the recipe named and the model ids the endpoint reported (lineage; cost)."""

from __future__ import annotations

from typing import Any

from storage.warehouse import Warehouse

COLUMNS = (
    "role",
    "backend",
    "model",
    "reported_models",
    "calls",
    "cache_hits",
    "failures",
    "prompt_tokens",
    "completion_tokens",
)


class LLMUsage:
    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def record(self, stage: str, run_key: str, rows: list[dict[str, Any]]) -> None:
        """One row per role of a stage run (replacing what an earlier attempt of the same run recorded)."""

        def write(con: Any) -> None:
            con.execute("DELETE FROM llm_usage WHERE stage = ? AND run_key = ?", [stage, run_key])
            con.executemany(
                f"INSERT INTO llm_usage (stage, run_key, {', '.join(COLUMNS)}, recorded_at) "
                f"VALUES (?, ?, {', '.join('?' for _ in COLUMNS)}, now())",
                [[stage, run_key, *(row[c] for c in COLUMNS)] for row in rows],
            )

        self.warehouse.write(write)

    def rows(self, stage: str, run_key: str) -> list[dict[str, Any]]:
        return self.warehouse.query(
            f"SELECT {', '.join(COLUMNS)} FROM llm_usage WHERE stage = ? AND run_key = ? ORDER BY role",
            [stage, run_key],
        )
