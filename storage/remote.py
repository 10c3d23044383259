"""A folder tree at an fsspec URL (`s3://bucket/knowrl`, `file:///mnt/share`) written with a commit marker: the
remote half of the artifact store and of the checkpoint mirror.

A tree of files is uploaded whole and its marker file LAST: until the marker lands no reader takes the tree as
present, so a crash mid-upload never shows half a tree. An object store shows an object only once its upload
completed; a shared filesystem shows a file while it is written, so there each file is written aside and renamed.
Downloads land in a local temporary folder, are verified against the hashes the marker lists, and only then are
renamed into place by the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from storage.files import temp_name

log = logging.getLogger("knowrl.storage")

UploadProgress = Callable[[str, int, int], None]
"""Called after each uploaded file with (file name, files done, files in all); the marker comes after the last."""


class RemoteTree:
    """Files under one fsspec URL; paths are given as parts joined by `/`."""

    def __init__(self, url: str, *, storage_options: dict[str, Any] | None = None) -> None:
        self.base_url = url.rstrip("/")
        self.storage_options = storage_options or {}
        self._fs: Any = None

    def __repr__(self) -> str:
        return f"RemoteTree({self.base_url!r})"

    @property
    def fs(self) -> Any:
        if self._fs is None:
            import fsspec

            self._fs, _ = fsspec.core.url_to_fs(self.base_url, **self.storage_options)
        return self._fs

    @property
    def atomic_objects(self) -> bool:
        """An object store (a half-uploaded object is never visible), not a shared filesystem."""
        from fsspec.implementations.local import LocalFileSystem

        return not isinstance(self.fs, LocalFileSystem)

    def url(self, *parts: str) -> str:
        return "/".join([self.base_url, *parts])

    def exists(self, *parts: str) -> bool:
        """Whether the path exists now (the listing cache is dropped first: another machine may have written it)."""
        url = self.url(*parts)
        self.fs.invalidate_cache(url)
        return self.fs.exists(url)

    def read_bytes(self, *parts: str) -> bytes:
        """The file's content; FileNotFoundError when it is not there."""
        return self.fs.cat_file(self.url(*parts))

    def children(self, *parts: str) -> list[str]:
        """Names of the entries directly under the path ([] when it does not exist)."""
        url = self.url(*parts)
        self.fs.invalidate_cache(url)
        if not self.fs.exists(url):
            return []
        return [entry.rstrip("/").split("/")[-1] for entry in self.fs.ls(url, detail=False)]

    def marked(self, *parts: str, marker: str) -> list[str]:
        """Names of the folders under the path that hold `marker` (committed trees)."""
        url = self.url(*parts)
        self.fs.invalidate_cache(url)
        return [p.rstrip("/").split("/")[-2] for p in self.fs.glob(self.url(*parts, "*", marker))]

    def put_tree(
        self,
        source: Path,
        names: list[str],
        *parts: str,
        marker: str,
        marker_bytes: bytes,
        progress: UploadProgress | None = None,
    ) -> None:
        """Upload `source/<name>` for each name to `<url>/<parts>/<name>`, then the marker as the commit."""
        fs = self.fs
        if self.atomic_objects and progress is None:
            fs.put([str(source / n) for n in names], [self.url(*parts, n) for n in names])  # all at once
        else:
            for done, name in enumerate(names, start=1):
                self._put_one(source / name, self.url(*parts, name))
                if progress is not None:
                    progress(name, done, len(names))
        self.write_bytes(marker_bytes, *parts, marker)

    def write_bytes(self, data: bytes, *parts: str) -> None:
        """Write one small file atomically: at once on an object store, aside then renamed on a filesystem."""
        url = self.url(*parts)
        if self.atomic_objects:
            self.fs.pipe_file(url, data)
            return
        self.fs.makedirs(url.rsplit("/", 1)[0], exist_ok=True)
        partial = f"{url}.{temp_name('part')}"
        self.fs.pipe_file(partial, data)
        self.fs.mv(partial, url)

    def _put_one(self, local: Path, remote: str) -> None:
        if self.atomic_objects:
            self.fs.put_file(str(local), remote)
            return
        self.fs.makedirs(remote.rsplit("/", 1)[0], exist_ok=True)
        partial = f"{remote}.{temp_name('part')}"
        self.fs.put_file(str(local), partial)
        self.fs.mv(partial, remote)

    def get_tree(self, names: list[str], *parts: str, into: Path) -> None:
        """Download `<url>/<parts>/<name>` for each name into `into/<name>` (FileNotFoundError when one is gone)."""
        for name in names:
            (into / name).parent.mkdir(parents=True, exist_ok=True)
        self.fs.get([self.url(*parts, n) for n in names], [str(into / n) for n in names])

    def remove_tree(self, *parts: str, marker: str) -> None:
        """Delete a committed tree, its marker first: from then on no reader takes the rest for complete."""
        self.fs.rm_file(self.url(*parts, marker))
        self.fs.rm(self.url(*parts), recursive=True)
