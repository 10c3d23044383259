"""Content-addressed artifact store: one directory per artifact plus a manifest.

An artifact is built in a temporary directory under the store and renamed into place only when
complete, so a crash never leaves half an artifact that looks whole. Its id is the hash of its files'
contents (names and bytes), so writing the same content twice yields the same artifact.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
_CHUNK = 1 << 20


class ArtifactCorruptError(RuntimeError):
    """An artifact's files no longer match the hashes recorded in its manifest."""


class ArtifactNotFoundError(LookupError):
    """No artifact with the requested id exists in the store."""


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _file_hashes(directory: Path) -> dict[str, str]:
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)
    return {p.relative_to(directory).as_posix(): hash_file(p) for p in files}


def _content_id(file_hashes: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name, file_hash in sorted(file_hashes.items()):
        digest.update(f"{name}\0{file_hash}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class Artifact:
    """A complete artifact on disk: its id (content hash), directory and manifest."""

    artifact_id: str
    path: Path
    manifest: dict[str, Any]


class ArtifactStore:
    """Artifacts live at `<root>/<stage>/<content hash>`; temporaries at `<root>/.tmp`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def write(
        self,
        stage: str,
        build: Callable[[Path], None],
        *,
        config: dict[str, Any] | None = None,
        inputs: dict[str, str] | None = None,
        code_version: str = "",
        metrics: dict[str, Any] | None = None,
    ) -> Artifact:
        """Run `build(tmp_dir)` to fill a fresh directory, then commit it under its content hash."""
        tmp_root = self.root / ".tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        tmp = tmp_root / f"{stage}-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            build(tmp)
            return self.commit_directory(
                stage, tmp, config=config, inputs=inputs, code_version=code_version, metrics=metrics
            )
        finally:
            # On success the directory was renamed away; on failure nothing half-built remains.
            shutil.rmtree(tmp, ignore_errors=True)

    def commit_directory(
        self,
        stage: str,
        directory: Path,
        *,
        config: dict[str, Any] | None = None,
        inputs: dict[str, str] | None = None,
        code_version: str = "",
        metrics: dict[str, Any] | None = None,
    ) -> Artifact:
        """Move a finished directory (on the store's filesystem) into place under its content hash."""
        files = _file_hashes(directory)
        if not files:
            raise ValueError(f"artifact for stage {stage!r} is empty: {directory} holds no files")
        artifact_id = _content_id(files)
        manifest = {
            "artifact_id": artifact_id,
            "stage": stage,
            "config": config or {},
            "inputs": inputs or {},
            "code_version": code_version,
            "created_at": datetime.now(UTC).isoformat(),
            "metrics": metrics or {},
            "files": files,
        }
        target = self.root / stage / artifact_id
        if target.exists():
            shutil.rmtree(directory, ignore_errors=True)
            return self.open(artifact_id, stage=stage, verify=False)
        (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(directory, target)
        except OSError:
            if not target.exists():
                raise
            # Another writer committed the same content first: theirs is identical by construction.
            shutil.rmtree(directory, ignore_errors=True)
        return Artifact(artifact_id, target, manifest)

    def find(self, artifact_id: str, stage: str | None = None) -> Path:
        stages = [stage] if stage else [p.name for p in self.root.iterdir() if p.is_dir() and p.name != ".tmp"]
        for name in stages:
            candidate = self.root / name / artifact_id
            if (candidate / MANIFEST).exists():
                return candidate
        raise ArtifactNotFoundError(
            f"artifact {artifact_id!r} is not in {self.root}; re-run the stage that produced it"
        )

    def open(self, artifact_id: str, *, stage: str | None = None, verify: bool = True) -> Artifact:
        """Return the artifact; with `verify`, re-hash its files and fail loudly on any mismatch."""
        path = self.find(artifact_id, stage)
        manifest = json.loads((path / MANIFEST).read_text())
        if verify:
            actual = _file_hashes(path)
            if actual != manifest["files"]:
                changed = sorted(set(actual.items()) ^ set(manifest["files"].items()))
                names = sorted({name for name, _ in changed})
                raise ArtifactCorruptError(
                    f"artifact {artifact_id} at {path} does not match its manifest (files: {names[:5]}); "
                    "delete the directory and re-run the stage"
                )
        return Artifact(artifact_id, path, manifest)

    def list(self, stage: str) -> list[Artifact]:
        directory = self.root / stage
        if not directory.exists():
            return []
        found = []
        for path in directory.iterdir():
            if (path / MANIFEST).exists():
                found.append(Artifact(path.name, path, json.loads((path / MANIFEST).read_text())))
        return sorted(found, key=lambda a: a.manifest["created_at"])
