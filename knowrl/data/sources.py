"""Read raw records from a Hugging Face dataset (id + revision) or a local JSON/JSONL/Parquet file or folder.

Each record comes back with its row number, or with the reason it could not be read (a bad JSON line),
so the caller can quarantine it instead of losing it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from knowrl.errors import InputError, hub_failure_is_transient

SUPPORTED_SUFFIXES = (".json", ".jsonl", ".parquet")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class SourceError(InputError):
    """A data source cannot be located or read; the message names it and the fix."""


@dataclass(frozen=True)
class RawRecord:
    row: int
    value: dict[str, Any] | None
    error: str | None = None
    raw: str | None = None


@dataclass(frozen=True)
class ResolvedSource:
    """A source pinned to files on disk and a fingerprint of their content (or the Hub commit)."""

    source: str
    files: tuple[Path, ...]
    revision: str | None
    source_fingerprint: str


def is_hub_id(source: str) -> bool:
    return bool(_HUB_ID.match(source)) and not Path(source).exists()


def _hash_files(files: tuple[Path, ...]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def _local_files(path: Path, file: str | None) -> tuple[Path, ...]:
    if path.is_file():
        files = (path,)
    elif path.is_dir():
        if file:
            candidate = path / file
            if not candidate.is_file():
                raise SourceError(
                    f"{candidate} does not exist; files in {path}: {sorted(p.name for p in path.iterdir())}"
                )
            files = (candidate,)
        else:
            files = tuple(sorted(p for p in path.iterdir() if p.suffix in SUPPORTED_SUFFIXES))
            if not files:
                raise SourceError(
                    f"{path} holds no {'/'.join(SUPPORTED_SUFFIXES)} files; name one with the *_file key"
                )
    else:
        raise SourceError(f"local source {path} does not exist")
    for f in files:
        if f.suffix not in SUPPORTED_SUFFIXES:
            raise SourceError(f"{f}: unsupported file type {f.suffix!r}; use one of {SUPPORTED_SUFFIXES}")
    return files


def resolve_source(
    source: str,
    file: str | None,
    revision: str | None,
    cache_dir: Path,
    token: str | None = None,
    split: str = "train",
) -> ResolvedSource:
    """Pin a source to local files: a local path as it is; a Hub dataset by downloading `file` at `revision`,
    or, without a file, by loading `split` with `datasets` and writing it to a Parquet file in the cache."""
    local = Path(source).expanduser()
    if local.exists():
        files = _local_files(local, file)
        return ResolvedSource(str(local.resolve()), files, revision, _hash_files(files))
    _require_hub_id(source)
    if not file:
        return _hub_split(source, split, revision, cache_dir, token)
    from huggingface_hub import hf_hub_download

    try:
        downloaded = Path(
            hf_hub_download(
                repo_id=source,
                filename=file,
                repo_type="dataset",
                revision=revision,
                cache_dir=str(cache_dir),
                token=token,
            )
        )
    except Exception as exc:  # the Hub client raises many types; say what was asked and how to fix it
        raise SourceError(
            f"could not download {file!r} from Hub dataset {source!r} at revision {revision or 'main'}: "
            f"{type(exc).__name__}: {exc}. Check the id, revision and HF_TOKEN, or point the recipe at a local copy."
        ) from exc
    # The snapshot folder name is the commit the revision resolved to: a new commit is a new version.
    commit = downloaded.parent.name if downloaded.parent.parent.name == "snapshots" else revision
    files = (downloaded,)
    return ResolvedSource(source, files, commit, _hash_files(files))


def _require_hub_id(source: str) -> None:
    if not is_hub_id(source):
        raise SourceError(
            f"data source {source!r} is neither an existing local path nor a Hub dataset id (owner/name)"
        )


def source_version(
    source: str, file: str | None, revision: str | None, split: str = "train", token: str | None = None
) -> str:
    """What a source holds now, cheaply, for a cache key (nothing is downloaded): a local path's file hashes; a Hub
    dataset's commit sha at `revision` (one metadata call: a new commit is new data), with the file or split."""
    local = Path(source).expanduser()
    if local.exists():
        return _hash_files(_local_files(local, file))
    _require_hub_id(source)
    from huggingface_hub import HfApi

    try:
        # HF_ENDPOINT read now: huggingface_hub reads it once, when it is first imported (as publish does).
        sha = (
            HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None)
            .dataset_info(source, revision=revision, token=token)
            .sha
        )
    except Exception as exc:  # the Hub client raises many types; say what was asked and how to fix it
        raise SourceError(
            f"could not read the commit of Hub dataset {source!r} at revision {revision or 'main'}: "
            f"{_one_line(exc)}. Check the id, revision and HF_TOKEN, or point the recipe at a local copy.",
            transient=hub_failure_is_transient(exc),
        ) from exc
    return f"{source}@{sha}:{file or split}"


def _hub_split(source: str, split: str, revision: str | None, cache_dir: Path, token: str | None) -> ResolvedSource:
    from datasets import load_dataset

    try:
        dataset = load_dataset(
            source,
            split=split,
            revision=revision,
            cache_dir=str(cache_dir / "datasets"),
            token=token,
        )
    except Exception as exc:  # datasets raises many types; say what was asked and how to fix it
        raise SourceError(
            f"could not load split {split!r} of Hub dataset {source!r} at revision {revision or 'main'}: "
            f"{type(exc).__name__}: {exc}. Check the id, split and HF_TOKEN, name a file with the *_file key, "
            "or point the recipe at a local copy."
        ) from exc
    # The dataset's fingerprint changes with its content: a new revision is a new version.
    target = cache_dir / "splits" / f"{source.replace('/', '--')}-{split}-{dataset._fingerprint}.parquet"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        dataset.to_parquet(str(target))
    return ResolvedSource(source, (target,), revision, dataset._fingerprint[:16])


def _read_json_file(path: Path) -> Iterator[RawRecord]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason}); it is binary or in another encoding: "
            f"point the recipe at a UTF-8 JSON/JSONL file, or name a .parquet file by its suffix"
        ) from None
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{path} is a JSON array that does not parse: {exc.msg} at line {exc.lineno}, column {exc.colno} "
                f"(character {exc.pos}); fix the file there (is it truncated?) or convert it to JSONL"
            ) from None
        for i, value in enumerate(values):
            yield _as_record(i, value, json.dumps(value, ensure_ascii=False)[:2000])
        return
    for i, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield RawRecord(i, None, f"invalid JSON: {exc.msg}", line[:2000])
            continue
        yield _as_record(i, value, line[:2000])


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _as_record(row: int, value: Any, raw: str) -> RawRecord:
    if not isinstance(value, dict):
        return RawRecord(row, None, f"row is a {type(value).__name__}, not an object", raw)
    return RawRecord(row, value, None, raw)


def read_records(files: tuple[Path, ...]) -> Iterator[RawRecord]:
    """Records of all files in order; row numbers continue across files so each is unique per load."""
    offset = 0
    for path in files:
        last = -1
        if path.suffix == ".parquet":
            try:
                table = pq.read_table(path)
            except pa.ArrowInvalid as exc:
                raise InputError(
                    f"{path} is not a readable Parquet file ({type(exc).__name__}: {_one_line(exc)}); "
                    "re-export it as Parquet, or give it a .json/.jsonl suffix if it is JSON"
                ) from None
            for i, value in enumerate(table.to_pylist()):
                last = i
                yield RawRecord(offset + i, value, None, None)
        else:
            for record in _read_json_file(path):
                last = record.row
                yield RawRecord(offset + record.row, record.value, record.error, record.raw)
        offset += last + 1
