"""Content-addressed artifact store: one directory per artifact plus a manifest, optionally mirrored to a URL.

An artifact is built in a temporary directory under the store and renamed into place only when complete, so a
crash never leaves half an artifact that looks whole. Its id is the hash of its files' contents (names and bytes),
so writing the same content twice yields the same artifact.

With a remote URL (any fsspec URL: `s3://bucket/knowrl`, `file:///mnt/share/knowrl`) the local root is a cache of a
`RemoteTree` (storage/remote.py): a committed artifact is uploaded whole to `<url>/<stage>/<id>/`, its manifest
LAST, so the manifest is the commit marker and a reader never sees half an artifact. `open` of an artifact not in
the cache downloads it into a temporary directory, verifies every file against the manifest and renames it into
the cache. Two writers of the same content both succeed: the objects they upload are identical. A store opening
sweeps the temporaries of crashed builds (storage/files.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.errors import KnowrlError
from storage.files import content_id, file_hashes, mismatched_files, sweep_temporaries, temp_name
from storage.remote import RemoteTree, UploadProgress

log = logging.getLogger("knowrl.storage")

MANIFEST = "manifest.json"
TMP_DIR = ".tmp"
# Prefixes that share the artifacts URL but hold no artifacts (storage/profile.py's layout).
NOT_STAGES = frozenset({"checkpoints", "prefect-results", "lake"})

__all__ = ["MANIFEST", "TMP_DIR", "Artifact", "ArtifactStore", "UploadProgress", "temp_name"]


class ArtifactCorruptError(KnowrlError, RuntimeError):
    """An artifact's files no longer match the hashes recorded in its manifest."""


class ArtifactNotFoundError(KnowrlError, LookupError):
    """No artifact with the requested id exists in the store."""


@dataclass(frozen=True)
class Artifact:
    """A complete artifact on local disk: its id (content hash), directory and manifest."""

    artifact_id: str
    path: Path
    manifest: dict[str, Any]


class ArtifactStore:
    """Artifacts live at `<root>/<stage>/<content hash>`; temporaries at `<root>/.tmp`.

    `remote_url` (optional) is where the artifacts really live; `root` is then a cache of it, safe to delete.
    """

    def __init__(
        self,
        root: Path,
        remote_url: str | None = None,
        *,
        storage_options: dict[str, Any] | None = None,
        upload_progress: UploadProgress | None = None,
    ) -> None:
        self.root = Path(root)
        self.remote = RemoteTree(remote_url, storage_options=storage_options) if remote_url else None
        self.upload_progress = upload_progress
        sweep_temporaries(self.root / TMP_DIR)

    @property
    def remote_url(self) -> str | None:
        return self.remote.base_url if self.remote else None

    def __repr__(self) -> str:
        return f"ArtifactStore({self.root!s}, remote_url={self.remote_url!r})"

    # -- writing -------------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def scratch_dir(self, prefix: str) -> Iterator[Path]:
        """A fresh directory on the store's filesystem, removed on exit (and by a later sweep if we crash)."""
        tmp_root = self.root / TMP_DIR
        tmp_root.mkdir(parents=True, exist_ok=True)
        tmp = tmp_root / temp_name(prefix)
        tmp.mkdir()
        try:
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

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
        # On success the directory was renamed away; on failure nothing half-built remains.
        with self.scratch_dir(stage) as tmp:
            build(tmp)
            return self.commit_directory(
                stage, tmp, config=config, inputs=inputs, code_version=code_version, metrics=metrics
            )

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
        """Move a finished directory (on the store's filesystem) into place under its content hash, then upload it."""
        files = file_hashes(directory, leave_out=MANIFEST)
        if not files:
            raise ValueError(f"artifact for stage {stage!r} is empty: {directory} holds no files")
        artifact_id = content_id(files)
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
        if (target / MANIFEST).exists():
            artifact = self._read_local(target)
            if self.remote:
                # Upload the bytes just hashed, not the cached copy: a damaged cache must not reach the store.
                self._upload(stage, artifact, source=directory)
            shutil.rmtree(directory, ignore_errors=True)
            return artifact
        (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(directory, target)
        except OSError:
            if not (target / MANIFEST).exists():
                raise
            # Another writer committed the same content first: theirs is identical by construction.
            shutil.rmtree(directory, ignore_errors=True)
        artifact = self._read_local(target)
        if self.remote:
            self._upload(stage, artifact)
        return artifact

    # -- reading -------------------------------------------------------------------------------------------------

    def find(self, artifact_id: str, stage: str | None = None) -> Path:
        """The local directory of an artifact (downloaded into the cache first when it is only remote)."""
        return self._locate(artifact_id, stage)[0]

    def _locate(self, artifact_id: str, stage: str | None) -> tuple[Path, bool]:
        """The artifact's local directory, and whether it was downloaded (and so verified) just now."""
        stages = [stage] if stage else self._local_stages()
        for name in stages:
            candidate = self.root / name / artifact_id
            if (candidate / MANIFEST).exists():
                return candidate, False
        if self.remote:
            for name in [stage] if stage else self._remote_stages():
                if self.remote.exists(name, artifact_id, MANIFEST):
                    return self._download(name, artifact_id).path, True
        where = f"{self.root}" + (f" nor at {self.remote_url}" if self.remote_url else "")
        raise ArtifactNotFoundError(
            f"artifact {artifact_id!r}{f' of stage {stage!r}' if stage else ''} is not in {where}; "
            "re-run the stage that produced it"
        )

    def open(self, artifact_id: str, *, stage: str | None = None, verify: bool = True) -> Artifact:
        """Return the artifact; with `verify`, re-hash its files and fail loudly on any mismatch."""
        path, downloaded = self._locate(artifact_id, stage)
        artifact = self._read_local(path)
        if verify and not downloaded:
            names = mismatched_files(path, artifact.manifest["files"], leave_out=MANIFEST)
            if names and self.remote:
                # The cache is disposable and the remote copy is verified on download: heal, but say so.
                log.warning(
                    "cached artifact %s at %s does not match its manifest (files: %s); downloading it again",
                    artifact_id,
                    path,
                    names[:5],
                )
                self._evict(path)
                return self._download(artifact.manifest["stage"], artifact_id)
            if names:
                raise ArtifactCorruptError(
                    f"artifact {artifact_id} at {path} does not match its manifest (files: {names[:5]}); "
                    "delete the directory and re-run the stage"
                )
        return artifact

    def list(self, stage: str, *, materialize: bool = True) -> list[Artifact]:
        """The complete artifacts of a stage, local and remote, oldest first.

        Remote ones are downloaded into the cache unless `materialize=False`; their `path` then names where they
        would be cached and may not exist yet (call `open` before reading files).
        """
        found: dict[str, Artifact] = {}
        directory = self.root / stage
        if directory.exists():
            for path in directory.iterdir():
                if (path / MANIFEST).exists():
                    found[path.name] = self._read_local(path)
        if self.remote:
            for artifact_id in self.remote.marked(stage, marker=MANIFEST):
                if artifact_id in found:
                    continue
                if materialize:
                    found[artifact_id] = self._download(stage, artifact_id)
                else:
                    manifest = json.loads(self.remote.read_bytes(stage, artifact_id, MANIFEST))
                    found[artifact_id] = Artifact(artifact_id, self.root / stage / artifact_id, manifest)
        return sorted(found.values(), key=lambda a: a.manifest["created_at"])

    # -- local helpers -------------------------------------------------------------------------------------------

    def _read_local(self, path: Path) -> Artifact:
        return Artifact(path.name, path, json.loads((path / MANIFEST).read_text()))

    def _local_stages(self) -> list[str]:
        if not self.root.exists():
            return []
        return [p.name for p in self.root.iterdir() if p.is_dir() and p.name != TMP_DIR]

    def _evict(self, path: Path) -> None:
        # Rename first so that no reader ever sees a half-deleted directory under the artifact's name.
        with self.scratch_dir("evict") as tmp:
            os.rename(path, tmp / "old")

    # -- the remote copy -----------------------------------------------------------------------------------------

    def _remote_stages(self) -> list[str]:
        assert self.remote is not None
        return [name for name in self.remote.children() if name not in NOT_STAGES]

    def _upload(self, stage: str, artifact: Artifact, source: Path | None = None) -> None:
        """Upload files (from `source`, default the artifact's directory), then the manifest: until the manifest
        lands no reader takes the artifact as present."""
        assert self.remote is not None
        if self.remote.exists(stage, artifact.artifact_id, MANIFEST):
            return  # content-addressed: whoever uploaded it first uploaded exactly these bytes
        if content_id(artifact.manifest["files"]) != artifact.artifact_id:
            raise ArtifactCorruptError(
                f"the manifest of {artifact.path} does not describe artifact {artifact.artifact_id}; delete the "
                "directory (a cache) and re-run the stage"
            )
        names = sorted(artifact.manifest["files"])
        self.remote.put_tree(
            source or artifact.path,
            names,
            stage,
            artifact.artifact_id,
            marker=MANIFEST,
            marker_bytes=(artifact.path / MANIFEST).read_bytes(),
            progress=self.upload_progress,
        )
        log.info("uploaded artifact %s/%s (%d files) to %s", stage, artifact.artifact_id, len(names), self.remote_url)

    def _download(self, stage: str, artifact_id: str) -> Artifact:
        """Fetch an artifact into a temporary directory, verify it, and rename it into the cache."""
        assert self.remote is not None
        where = self.remote.url(stage, artifact_id)
        try:
            manifest_bytes = self.remote.read_bytes(stage, artifact_id, MANIFEST)
        except FileNotFoundError:
            raise ArtifactNotFoundError(
                f"artifact {artifact_id!r} of stage {stage!r} is not at {self.remote_url}; re-run the stage"
            ) from None
        manifest = json.loads(manifest_bytes)
        if manifest.get("artifact_id") != artifact_id or content_id(manifest.get("files", {})) != artifact_id:
            raise ArtifactCorruptError(
                f"the manifest at {where}/{MANIFEST} does not describe artifact {artifact_id}; delete {where} and "
                "re-run the stage"
            )
        target = self.root / stage / artifact_id
        with self.scratch_dir(f"download-{stage}") as tmp:
            try:
                self.remote.get_tree(sorted(manifest["files"]), stage, artifact_id, into=tmp)
            except FileNotFoundError as exc:
                raise ArtifactCorruptError(
                    f"artifact {artifact_id} at {where} lacks a file its manifest lists ({exc}); delete it and "
                    "re-run the stage"
                ) from exc
            bad = mismatched_files(tmp, manifest["files"])
            if bad:
                raise ArtifactCorruptError(
                    f"artifact {artifact_id} at {where} does not match its manifest (files: {bad[:5]}); delete it "
                    "and re-run the stage"
                )
            (tmp / MANIFEST).write_bytes(manifest_bytes)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(tmp, target)
            except OSError:
                if not (target / MANIFEST).exists():
                    raise
                # Another process of this machine downloaded it meanwhile: the same verified bytes.
        log.info("downloaded artifact %s/%s from %s", stage, artifact_id, self.remote_url)
        return self._read_local(target)
