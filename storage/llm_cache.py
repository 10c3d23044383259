"""SQL for the cache of judge / extractor / verifier calls, keyed by a hash of (backend, model, prompt).

Only the hash and the response are stored: never a prompt's credentials, never an API key.
"""

from __future__ import annotations

import pyarrow as pa

from storage.warehouse import Warehouse


class LLMCache:
    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def get_many(self, keys: list[str]) -> dict[str, str]:
        if not keys:
            return {}
        with self.warehouse.connect() as con:
            con.register("wanted", pa.table({"cache_key": keys}))
            rows = con.execute(
                "SELECT c.cache_key, c.response FROM llm_cache c JOIN wanted w USING (cache_key)"
            ).fetchall()
        return dict(rows)

    def put_many(self, backend: str, model: str, entries: dict[str, str]) -> None:
        if not entries:
            return
        with self.warehouse.connect() as con:
            con.register(
                "incoming",
                pa.table(
                    {
                        "cache_key": list(entries),
                        "response": list(entries.values()),
                    }
                ),
            )
            con.execute(
                "INSERT OR IGNORE INTO llm_cache SELECT cache_key, ?, ?, response, now() FROM incoming",
                [backend, model],
            )

    def count(self) -> int:
        with self.warehouse.connect() as con:
            return con.execute("SELECT count(*) FROM llm_cache").fetchall()[0][0]
