"""SQL for the cache of judge / extractor / verifier calls, keyed by a hash of (backend, model, prompt).

Only the hash and the response are stored: never a prompt's credentials, never an API key.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from storage.warehouse import Warehouse, insert_new


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
        """Store responses; a key already cached (by this or another worker) is left as it is."""
        if not entries:
            return
        incoming = pa.table({"cache_key": list(entries), "response": list(entries.values())})

        def register(con: duckdb.DuckDBPyConnection) -> None:
            con.register("incoming", incoming)
            source = "(SELECT cache_key, ? AS backend, ? AS model, response, now() AS created_at FROM incoming)"
            columns = ["cache_key", "backend", "model", "response", "created_at"]
            insert_new(con, "llm_cache", source, columns, ["cache_key"], [backend, model])
            con.unregister("incoming")

        self.warehouse.write(register, serialize="llm_cache")

    def count(self) -> int:
        with self.warehouse.connect() as con:
            return con.execute("SELECT count(DISTINCT cache_key) FROM llm_cache").fetchall()[0][0]
