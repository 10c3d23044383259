"""Content-addressed artifact store: one directory per artifact plus a manifest, optionally mirrored to a URL.

An artifact is built in a temporary directory under the store and renamed into place only when complete, so a
crash never leaves half an artifact that looks whole. Its id is the hash of its files' contents (names and bytes),
so writing the same content twice yields the same artifact.

With a remote URL (any fsspec URL: `s3://bucket/knowrl`, `file:///mnt/share/knowrl`) the local root is a cache:
a committed artifact is uploaded whole to `<url>/<stage>/<id>/`, its manifest LAST, so the manifest is the commit
marker and a reader never sees half an artifact. `open` of an artifact not in the cache downloads it into a
temporary directory, verifies every file against the manifest and renames it into the cache. Two writers of the
same content both succeed: the objects they upload are identical.

Temporary directories are named `<prefix>.<host>.<pid>.<random>`; a store opening sweeps those whose process on
this host is gone (a crashed build), and leaves any other name alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("knowrl.storage")

MANIFEST = "manifest.json"
TMP_DIR = ".tmp"
# Prefixes that share the artifacts URL but hold no artifacts (storage/profile.py's layout).
NOT_STAGES = frozenset({"checkpoints", "prefect-results", "lake"})
_CHUNK = 1 << 20
_TMP_NAME = re.compile(r"^(?P<prefix>.+)\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.(?P<token>[0-9a-f]{32})$")

UploadProgress = Callable[[str, int, int], None]
"""Called after each uploaded file with (file name, files done, files in all); the manifest comes after the last."""


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


def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:63] or "host"


def temp_name(prefix: str) -> str:
    """A temporary directory name that says which process owns it (so a sweep can tell a crashed one)."""
    return f"{prefix}.{_host_tag()}.{os.getpid()}.{uuid.uuid4().hex}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def sweep_temporaries(directory: Path) -> list[Path]:
    """Remove temporary directories under `directory` whose owner process on this host has exited."""
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    host = _host_tag()
    for path in directory.iterdir():
        match = _TMP_NAME.match(path.name)
        if not match or match["host"] != host or _pid_alive(int(match["pid"])):
            continue
        shutil.rmtree(path, ignore_errors=True)
        if path.exists():
            log.warning("could not remove the temporary %s of exited process %s", path, match["pid"])
        else:
            log.info("removed %s, left by process %s which exited mid-build", path, match["pid"])
            removed.append(path)
    return removed


def _verify(directory: Path, manifest: dict[str, Any]) -> list[str]:
    """Names of files that are missing, extra or changed compared with the manifest."""
    actual = _file_hashes(directory)
    changed = set(actual.items()) ^ set(manifest["files"].items())
    return sorted({name for name, _ in changed})


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
        self.remote_url = remote_url.rstrip("/") if remote_url else None
        self.storage_options = storage_options or {}
        self.upload_progress = upload_progress
        self._fs: Any = None
        sweep_temporaries(self.root / TMP_DIR)

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
        if (target / MANIFEST).exists():
            artifact = self._read_local(target)
            if self.remote_url:
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
        if self.remote_url:
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
        if self.remote_url:
            for name in [stage] if stage else self._remote_stages():
                if self._fs_exists(self._remote(name, artifact_id, MANIFEST)):
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
            names = _verify(path, artifact.manifest)
            if names and self.remote_url:
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
        if self.remote_url:
            fs = self._filesystem()
            for manifest_path in fs.glob(self._remote(stage, "*", MANIFEST)):
                artifact_id = manifest_path.rstrip("/").split("/")[-2]
                if artifact_id in found:
                    continue
                if materialize:
                    found[artifact_id] = self._download(stage, artifact_id)
                else:
                    manifest = json.loads(fs.cat_file(manifest_path))
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

    # -- remote helpers ------------------------------------------------------------------------------------------

    def _filesystem(self) -> Any:
        if self._fs is None:
            import fsspec

            self._fs, _ = fsspec.core.url_to_fs(self.remote_url, **self.storage_options)
        return self._fs

    def _remote(self, *parts: str) -> str:
        return "/".join([self.remote_url or "", *parts])

    def _fs_exists(self, url: str) -> bool:
        fs = self._filesystem()
        fs.invalidate_cache(url)
        return fs.exists(url)

    def _remote_stages(self) -> list[str]:
        fs = self._filesystem()
        if not fs.exists(self.remote_url):
            return []
        names = [entry.rstrip("/").split("/")[-1] for entry in fs.ls(self.remote_url, detail=False)]
        return [name for name in names if name not in NOT_STAGES]

    def _upload(self, stage: str, artifact: Artifact, source: Path | None = None) -> None:
        """Upload files (from `source`, default the artifact's directory), then the manifest: until the manifest
        lands no reader takes the artifact as present."""
        manifest_url = self._remote(stage, artifact.artifact_id, MANIFEST)
        if self._fs_exists(manifest_url):
            return  # content-addressed: whoever uploaded it first uploaded exactly these bytes
        if _content_id(artifact.manifest["files"]) != artifact.artifact_id:
            raise ArtifactCorruptError(
                f"the manifest of {artifact.path} does not describe artifact {artifact.artifact_id}; delete the "
                "directory (a cache) and re-run the stage"
            )
        source = source or artifact.path
        fs = self._filesystem()
        names = sorted(artifact.manifest["files"])
        atomic_objects = not _is_local_fs(fs)
        if atomic_objects and self.upload_progress is None:
            # An object store shows an object only once its upload completed: send all files at once.
            fs.put([str(source / n) for n in names], [self._remote(stage, artifact.artifact_id, n) for n in names])
        else:
            for done, name in enumerate(names, start=1):
                self._put_one(fs, source / name, self._remote(stage, artifact.artifact_id, name), atomic_objects)
                if self.upload_progress is not None:
                    self.upload_progress(name, done, len(names))
        manifest_bytes = (artifact.path / MANIFEST).read_bytes()
        if atomic_objects:
            fs.pipe_file(manifest_url, manifest_bytes)
        else:
            partial = f"{manifest_url}.{temp_name('part')}"
            fs.pipe_file(partial, manifest_bytes)
            fs.mv(partial, manifest_url)
        log.info("uploaded artifact %s/%s (%d files) to %s", stage, artifact.artifact_id, len(names), self.remote_url)

    @staticmethod
    def _put_one(fs: Any, local: Path, remote: str, atomic_objects: bool) -> None:
        if atomic_objects:
            fs.put_file(str(local), remote)
            return
        # A shared filesystem shows a file while it is written: write it aside, then rename (atomic there).
        fs.makedirs(remote.rsplit("/", 1)[0], exist_ok=True)
        partial = f"{remote}.{temp_name('part')}"
        fs.put_file(str(local), partial)
        fs.mv(partial, remote)

    def _download(self, stage: str, artifact_id: str) -> Artifact:
        """Fetch an artifact into a temporary directory, verify it, and rename it into the cache."""
        fs = self._filesystem()
        manifest_url = self._remote(stage, artifact_id, MANIFEST)
        try:
            manifest_bytes = fs.cat_file(manifest_url)
        except FileNotFoundError:
            raise ArtifactNotFoundError(
                f"artifact {artifact_id!r} of stage {stage!r} is not at {self.remote_url}; re-run the stage"
            ) from None
        manifest = json.loads(manifest_bytes)
        if manifest.get("artifact_id") != artifact_id or _content_id(manifest.get("files", {})) != artifact_id:
            raise ArtifactCorruptError(
                f"the manifest at {manifest_url} does not describe artifact {artifact_id}; delete "
                f"{self._remote(stage, artifact_id)} and re-run the stage"
            )
        target = self.root / stage / artifact_id
        with self.scratch_dir(f"download-{stage}") as tmp:
            names = sorted(manifest["files"])
            for name in names:
                (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            remotes = [self._remote(stage, artifact_id, name) for name in names]
            try:
                fs.get(remotes, [str(tmp / name) for name in names])
            except FileNotFoundError as exc:
                raise ArtifactCorruptError(
                    f"artifact {artifact_id} at {self._remote(stage, artifact_id)} lacks a file its manifest lists "
                    f"({exc}); delete it and re-run the stage"
                ) from exc
            bad = _verify(tmp, manifest)
            if bad:
                raise ArtifactCorruptError(
                    f"artifact {artifact_id} at {self._remote(stage, artifact_id)} does not match its manifest "
                    f"(files: {bad[:5]}); delete it and re-run the stage"
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


def _is_local_fs(fs: Any) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)
