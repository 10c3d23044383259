"""SQL for the knowledge stage: pages and passages per store, segments, coverage and quarantine."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from storage.warehouse import Warehouse


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
        """Record one build's new pages, passages and searched titles in one transaction."""
        with self.warehouse.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                if segment_id:
                    n = len(passages)
                    con.execute(
                        "INSERT INTO knowledge_segments VALUES (?, ?, ?, ?, now())",
                        [store_key, segment_id, len(pages), n],
                    )
                for table, rows in (("knowledge_pages", pages), ("knowledge_passages", passages)):
                    if rows:
                        con.register("incoming", pa.Table.from_pylist([{"store_key": store_key, **r} for r in rows]))
                        columns = ", ".join(["store_key", *rows[0].keys()])
                        con.execute(f"INSERT OR IGNORE INTO {table} ({columns}) SELECT {columns} FROM incoming")
                        con.unregister("incoming")
                if searched:
                    con.register(
                        "incoming", pa.table({"store_key": [store_key] * len(searched), "title_key": searched})
                    )
                    con.execute("INSERT INTO knowledge_searched SELECT store_key, title_key FROM incoming")
                    con.unregister("incoming")
                if quarantined:
                    con.executemany(
                        "INSERT INTO knowledge_quarantine VALUES (?, ?, ?)",
                        [[store_key, q["title"], q["reason"]] for q in quarantined],
                    )
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise

    def record_coverage(self, store_key: str, data_fingerprint: str, coverage: dict[str, bool]) -> None:
        with self.warehouse.connect() as con:
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
