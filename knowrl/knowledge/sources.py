"""Read pages (title, passages) from the KnowRL SQLite knowledge base or a Wikipedia-style dump.

Sources are a local path or a Hub dataset id (+ revision); pages are filtered by normalised title
while streaming, so a scoped build never holds the whole dump in memory.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from knowrl import resources
from knowrl.data.normalize import title_key
from knowrl.data.sources import is_hub_id
from knowrl.errors import InputError, hub_failure_is_transient
from knowrl.knowledge.config import KnowledgeConfig
from knowrl.knowledge.passages import knowrl_passages, split_passages


class KnowledgeSourceError(InputError):
    """A knowledge source is missing, of the wrong kind, or lacks the expected table or columns."""


@dataclass(frozen=True)
class Page:
    title: str
    passages: list[str]


@dataclass(frozen=True)
class ResolvedKB:
    path: Path
    format: str  # knowrl_sqlite | pages
    fingerprint: str


def _fingerprint(path: Path) -> str:
    stat = path.stat() if path.is_file() else None
    files = [path] if stat else sorted(p for p in path.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for f in files:
        # size + mtime + first MiB: hashing a 190 MB KB on every cache-key check would be wasteful.
        st = f.stat()
        digest.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
        with f.open("rb") as handle:
            digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]


def _detect_format(path: Path) -> str:
    if path.is_dir():
        return "pages"
    with path.open("rb") as handle:
        head = handle.read(16)
    if head.startswith(b"SQLite format 3"):
        return "knowrl_sqlite"
    if path.suffix in (".parquet", ".jsonl", ".json"):
        return "pages"
    raise KnowledgeSourceError(
        f"{path} is neither a SQLite database (KnowRL knowledge base) nor a .parquet/.jsonl page dump"
    )


def resolve_kb(cfg: KnowledgeConfig, cache_dir: Path) -> ResolvedKB:
    # `source: demo` is the bundled demo corpus.
    source = str(resources.demo_dir() / "data" / "corpus.jsonl") if cfg.source == "demo" else cfg.source
    path = Path(source).expanduser()
    if not path.exists():
        if not is_hub_id(source):
            raise KnowledgeSourceError(f"knowledge source {source!r} is neither a local path nor a Hub dataset id")
        path = _download(source, cfg, cache_dir)
    fmt = _detect_format(path) if cfg.source_format == "auto" else cfg.source_format
    if fmt == "knowrl_sqlite":
        _check_sqlite(path)
    return ResolvedKB(path.resolve(), fmt, _fingerprint(path))


def _download(repo_id: str, cfg: KnowledgeConfig, cache_dir: Path) -> Path:
    from huggingface_hub import hf_hub_download, snapshot_download

    try:
        if cfg.hub_file:
            return Path(
                hf_hub_download(
                    repo_id,
                    cfg.hub_file,
                    repo_type="dataset",
                    revision=cfg.revision,
                    cache_dir=str(cache_dir),
                )
            )
        return Path(
            snapshot_download(
                repo_id,
                repo_type="dataset",
                revision=cfg.revision,
                cache_dir=str(cache_dir),
                allow_patterns=["*.parquet", "*.jsonl"],
            )
        )
    except Exception as exc:  # the Hub client raises many types; name the source and the way out
        raise KnowledgeSourceError(
            f"could not download knowledge source {repo_id!r} (file {cfg.hub_file!r}, "
            f"revision {cfg.revision or 'main'}): "
            f"{type(exc).__name__}: {exc}. Check the id and HF_TOKEN, or set knowledge.source to a local file.",
            transient=hub_failure_is_transient(exc),
        ) from exc


def _check_sqlite(path: Path) -> None:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            columns = {row[1] for row in con.execute("PRAGMA table_info(documents)")}
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise KnowledgeSourceError(f"{path} is not a readable SQLite database: {exc}") from exc
    if not columns:
        raise KnowledgeSourceError(
            f"{path} has no table 'documents'; expected documents(title, text) as in the KnowRL KB"
        )
    if not {"title", "text"} <= columns:
        raise KnowledgeSourceError(f"{path}: table 'documents' has columns {sorted(columns)}, expected title and text")


def iter_pages(
    kb: ResolvedKB, wanted: set[str] | None, max_tokens: int
) -> Iterator[tuple[str, str | None, list[str]]]:
    """(title, error, passages) for every page whose title key is wanted (all pages when wanted is None)."""
    if kb.format == "knowrl_sqlite":
        yield from _sqlite_pages(kb.path, wanted)
    else:
        yield from _dump_pages(kb.path, wanted, max_tokens)


def _sqlite_pages(path: Path, wanted: set[str] | None) -> Iterator[tuple[str, str | None, list[str]]]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        for title, text in con.execute("SELECT title, text FROM documents"):
            if title is None or (wanted is not None and title_key(title) not in wanted):
                continue
            if not isinstance(text, str) or not text.strip():
                yield title, "empty page text", []
                continue
            passages = knowrl_passages(text)
            yield title, None if passages else "page has no non-empty passage", passages
    finally:
        con.close()


def _dump_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.suffix in (".parquet", ".jsonl"))
    if not files:
        raise KnowledgeSourceError(f"{path} holds no .parquet or .jsonl page files")
    return files


def _dump_pages(path: Path, wanted: set[str] | None, max_tokens: int) -> Iterator[tuple[str, str | None, list[str]]]:
    for file in _dump_files(path):
        for title, text in _dump_rows(file):
            if not isinstance(title, str) or (wanted is not None and title_key(title) not in wanted):
                continue
            if not isinstance(text, str) or not text.strip():
                yield title, "empty page text", []
                continue
            yield title, None, split_passages(text, max_tokens)


def _dump_rows(file: Path) -> Iterator[tuple[object, object]]:
    if file.suffix == ".parquet":
        parquet = pq.ParquetFile(file)
        names = set(parquet.schema_arrow.names)
        if not {"title", "text"} <= names:
            raise KnowledgeSourceError(f"{file} has columns {sorted(names)}; a page dump needs title and text")
        for batch in parquet.iter_batches(columns=["title", "text"], batch_size=8192):
            yield from zip(batch.column("title").to_pylist(), batch.column("text").to_pylist(), strict=True)
        return
    with file.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise KnowledgeSourceError(f"{file} line {number + 1} is not valid JSON: {exc.msg}") from exc
            yield row.get("title"), row.get("text")
