"""The local Hub server's data: repos, commits and files as the Hub stores them (content-addressed commits, LFS
by `.gitattributes` or size), the requests it saw, and the pure functions over them (tests/support/hub_server.py
serves them)."""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# The `.gitattributes` the Hub writes into a new repo (its LFS-tracked patterns; audio/image/video lines trimmed).
HUB_LFS_PATTERNS = (
    "*.7z",
    "*.arrow",
    "*.bin",
    "*.bz2",
    "*.ckpt",
    "*.ftz",
    "*.gz",
    "*.h5",
    "*.joblib",
    "*.lfs.*",
    "*.lz4",
    "*.mds",
    "*.mlmodel",
    "*.model",
    "*.msgpack",
    "*.npy",
    "*.npz",
    "*.onnx",
    "*.ot",
    "*.parquet",
    "*.pb",
    "*.pickle",
    "*.pkl",
    "*.pt",
    "*.pth",
    "*.rar",
    "*.safetensors",
    "saved_model/**/*",
    "*.tar.*",
    "*.tar",
    "*.tflite",
    "*.tgz",
    "*.wasm",
    "*.xz",
    "*.zip",
    "*.zst",
    "*tfevents*",
    "*.mp3",
    "*.ogg",
    "*.wav",
    "*.jpg",
    "*.jpeg",
    "*.png",
    "*.webp",
    "*.gif",
    "*.mp4",
    "*.webm",
)
HUB_DEFAULT_GITATTRIBUTES = "".join(f"{pattern} filter=lfs diff=lfs merge=lfs -text\n" for pattern in HUB_LFS_PATTERNS)

REPO_PATH_PREFIX = {"model": "", "dataset": "datasets/"}
API_REPO_TYPES = {"models": "model", "datasets": "dataset"}


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def truthy(values: list[str] | None) -> bool:
    return bool(values) and values[-1].lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class HubFile:
    """One file of a commit: its bytes, and whether the repo's `.gitattributes` sends it to LFS."""

    data: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def pointer(self) -> bytes:
        return (
            f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {len(self.data)}\n".encode()
        )

    @property
    def oid(self) -> str:
        """The git blob id the Hub reports: of the LFS pointer for LFS files, of the bytes otherwise."""
        return git_blob_sha1(self.pointer if self.lfs else self.data)

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.oid

    def entry(self, path: str) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "file", "oid": self.oid, "size": len(self.data), "path": path}
        if self.lfs:
            out["lfs"] = {"oid": self.sha256, "size": len(self.data), "pointerSize": len(self.pointer)}
        return out


@dataclass
class HubCommit:
    oid: str
    files: dict[str, HubFile]
    title: str
    date: str
    parent: str | None


@dataclass
class HubRepo:
    repo_type: str  # "model" or "dataset"
    repo_id: str
    private: bool = False
    gated: bool | str = False  # False, "auto" or "manual", as the Hub reports it
    refs: dict[str, str] = field(default_factory=dict)  # branch or tag -> commit oid
    tags: set[str] = field(default_factory=set)
    commits: dict[str, HubCommit] = field(default_factory=dict)

    def resolve(self, revision: str) -> HubCommit | None:
        oid = self.refs.get(revision, revision)
        return self.commits.get(oid)


@dataclass(frozen=True)
class HubRequest:
    method: str
    path: str  # as sent (percent-encoded), without the query
    query: str
    authorization: str
    status: int
    cdn: bool = False

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class HubState:
    repos: dict[str, dict[str, Any]] = field(default_factory=dict)  # created through the API (publish)
    commits: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)
    auth_headers: list[str] = field(default_factory=list)  # of the POST requests
    unexpected: list[str] = field(default_factory=list)
    validated: list[Any] = field(default_factory=list)
    preuploads: list[dict[str, Any]] = field(default_factory=list)  # {"repo_id", "path", "size", "mode"} per file
    lfs_uploads: list[dict[str, Any]] = field(default_factory=list)  # {"repo_id", "oid", "size"} per verified object
    failed: list[str] = field(default_factory=list)  # "METHOD path -> status" answered by a `hub.fail` rule
    # "owner/name@revision" -> the sha the dataset info route answers, before (and instead of) any hosted repo
    dataset_shas: dict[str, str] = field(default_factory=dict)
    dataset_info_calls: list[str] = field(default_factory=list)
    hosted: dict[tuple[str, str], HubRepo] = field(default_factory=dict)  # (repo_type, repo_id) -> repo
    requests: list[HubRequest] = field(default_factory=list)  # every request, the CDN's included
    downloads: list[str] = field(default_factory=list)  # "[datasets/]owner/name@commit/path" per file body served


# The size from which the Hub stores a file in LFS whatever `.gitattributes` says.
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024


class HubError(Exception):
    def __init__(self, status: int, code: str | None, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def read_files(files: Mapping[str, bytes | str | Path] | Path) -> dict[str, bytes]:
    if isinstance(files, Path):
        if not files.is_dir():
            raise NotADirectoryError(files)
        return {p.relative_to(files).as_posix(): p.read_bytes() for p in sorted(files.rglob("*")) if p.is_file()}
    out = {}
    for path, content in files.items():
        if isinstance(content, Path):
            out[path] = content.read_bytes()
        elif isinstance(content, str):
            out[path] = content.encode()
        else:
            out[path] = bytes(content)
    return out


def is_lfs(path: str, gitattributes: str, override: Iterable[str] | bool | None) -> bool:
    if isinstance(override, bool):
        return override
    if override is not None:
        return path in set(override)
    tracked = False
    for line in gitattributes.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        pattern, attrs = fields[0], fields[1:]
        target = path if "/" in pattern else path.rsplit("/", 1)[-1]
        if fnmatch.fnmatchcase(target, pattern.replace("**/", "*")):
            if "filter=lfs" in attrs:
                tracked = True
            elif "-filter" in attrs or "!filter" in attrs:
                tracked = False
    return tracked


def same_tree(a: dict[str, HubFile], b: dict[str, HubFile]) -> bool:
    return a.keys() == b.keys() and all(a[p].oid == b[p].oid and a[p].lfs == b[p].lfs for p in a)


def tree_oid(files: dict[str, HubFile], folder: str) -> str:
    prefix = folder + "/"
    listing = "\n".join(f"{p} {f.oid}" for p, f in sorted(files.items()) if p.startswith(prefix))
    return hashlib.sha1(b"tree " + listing.encode()).hexdigest()


def fingerprint(commit: HubCommit, path: str) -> str | None:
    f = commit.files.get(path)
    if f is not None:
        return f.oid
    return tree_oid(commit.files, path) if any(p.startswith(path + "/") for p in commit.files) else None


def last_commit(repo: HubRepo, commit: HubCommit, path: str) -> HubCommit:
    """The commit that last changed `path` (a file or a folder) in the history of `commit`."""
    mine = fingerprint(commit, path)
    while commit.parent is not None:
        parent = repo.commits[commit.parent]
        if fingerprint(parent, path) != mine:
            break
        commit = parent
    return commit


def card_data(readme: HubFile | None) -> dict[str, Any] | None:
    if readme is None:
        return None
    text = readme.data.decode(errors="replace")
    if not text.startswith("---"):
        return None
    import yaml

    try:
        meta = yaml.safe_load(text.split("---", 2)[1])
    except yaml.YAMLError:
        return None
    return meta if isinstance(meta, dict) else None


def read_body(handler: Any) -> bytes:
    """The request's body, sent with a Content-Length or chunked (httpx streams a file object so)."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
