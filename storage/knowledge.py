"""SQL for the knowledge stage: pages and passages per store, segments, coverage and quarantine."""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from storage.warehouse import Warehouse, insert_new


class KnowledgeTables:
    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def segments(self, store_key: str) -> list[str]:
        with self.warehouse.connect() as con:
            rows = con.execute(
                "SELECT segment_id FROM knowledge_segments WHERE store_key = ? ORDER BY created_at", [store_key]
            ).fetchall()
        return [r[0] for r in rows]

    def searched_keys(self, store_key: str) -> set[str]:
        with self.warehouse.connect() as con:
            rows = con.execute("SELECT title_key FROM knowledge_searched WHERE store_key = ?", [store_key]).fetchall()
        return {r[0] for r in rows}

    def page_keys(self, store_key: str) -> set[str]:
        with self.warehouse.connect() as con:
            rows = con.execute("SELECT title_key FROM knowledge_pages WHERE store_key = ?", [store_key]).fetchall()
        return {r[0] for r in rows}

    def add_segment(
        self,
        store_key: str,
        segment_id: str | None,
        pages: list[dict[str, Any]],
        passages: list[dict[str, Any]],
        searched: list[str],
        quarantined: list[dict[str, Any]],
    ) -> None:
        """Record one build's new pages, passages and searched titles in one transaction.

        Idempotent: every row is keyed (segment by id, page by title key, passage by title key and index) and
        inserted only when absent, under the knowledge write lock, so a second build of the same segment (two
        workers, or a retried task) succeeds and adds nothing.
        """

        def register(con: duckdb.DuckDBPyConnection) -> None:
            if segment_id:
                con.execute(
                    "INSERT INTO knowledge_segments SELECT ?, ?, ?, ?, now() WHERE NOT EXISTS "
                    "(SELECT 1 FROM knowledge_segments WHERE store_key = ? AND segment_id = ?)",
                    [store_key, segment_id, len(pages), len(passages), store_key, segment_id],
                )
            for table, rows, keys in (
                ("knowledge_pages", pages, ["store_key", "title_key"]),
                ("knowledge_passages", passages, ["store_key", "title_key", "passage_idx"]),
            ):
                if rows:
                    con.register("incoming", pa.Table.from_pylist([{"store_key": store_key, **r} for r in rows]))
                    insert_new(con, table, "incoming", ["store_key", *rows[0].keys()], keys)
                    con.unregister("incoming")
            if searched:
                con.register("incoming", pa.table({"store_key": [store_key] * len(searched), "title_key": searched}))
                insert_new(
                    con, "knowledge_searched", "incoming", ["store_key", "title_key"], ["store_key", "title_key"]
                )
                con.unregister("incoming")
            if quarantined:
                con.register(
                    "incoming",
                    pa.table(
                        {
                            "store_key": [store_key] * len(quarantined),
                            "title": [q["title"] for q in quarantined],
                            "reason": [q["reason"] for q in quarantined],
                        }
                    ),
                )
                columns = ["store_key", "title", "reason"]
                insert_new(con, "knowledge_quarantine", "incoming", columns, columns)
                con.unregister("incoming")

        self.warehouse.write(register, serialize="knowledge")

    def record_coverage(self, store_key: str, data_fingerprint: str, coverage: dict[str, bool]) -> None:
        def replace(con: duckdb.DuckDBPyConnection) -> None:
            con.execute(
                "DELETE FROM knowledge_coverage WHERE store_key = ? AND data_fingerprint = ?",
                [store_key, data_fingerprint],
            )
            if coverage:
                con.register(
                    "incoming",
                    pa.table(
                        {
                            "store_key": [store_key] * len(coverage),
                            "data_fingerprint": [data_fingerprint] * len(coverage),
                            "title": list(coverage),
                            "found": list(coverage.values()),
                        }
                    ),
                )
                con.execute("INSERT INTO knowledge_coverage SELECT * FROM incoming")
                con.unregister("incoming")

        # Delete-then-insert as one serialised transaction: two workers never leave the coverage doubled.
        self.warehouse.write(replace, serialize="knowledge")

    def missing_titles(self, store_key: str, data_fingerprint: str, limit: int = 50) -> list[str]:
        with self.warehouse.connect() as con:
            rows = con.execute(
                "SELECT title FROM knowledge_coverage WHERE store_key = ? AND data_fingerprint = ? AND NOT found "
                "ORDER BY title LIMIT ?",
                [store_key, data_fingerprint, limit],
            ).fetchall()
        return [r[0] for r in rows]

    def passages(self, store_key: str, title_key: str) -> list[str]:
        with self.warehouse.connect() as con:
            rows = con.execute(
                "SELECT text FROM knowledge_passages WHERE store_key = ? AND title_key = ? ORDER BY passage_idx",
                [store_key, title_key],
            ).fetchall()
        return [r[0] for r in rows]
