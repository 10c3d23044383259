"""Writers of a Hub repo's files in the formats the real repos use (CSV, JSON lines, Parquet), each with the Hub's
default `.gitattributes`: shared by the layout builders in tests/support/hub_layouts*.py."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.support.hub_server import HUB_DEFAULT_GITATTRIBUTES


def write_files(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in {".gitattributes": HUB_DEFAULT_GITATTRIBUTES, **files}.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


def csv_text(header: list[str], rows: list[dict[str, object]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def jsonl_text(rows: list[dict[str, object]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def parquet_bytes(rows: list[dict[str, object]], schema) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), sink)
    return sink.getvalue()
