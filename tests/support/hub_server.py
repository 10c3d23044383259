"""A local HTTP server that speaks the Hub API the pipeline uses (HF_ENDPOINT points here).

Write side (publish), as `HfApi` calls it: create repo (`visibility`; 409 when it exists), validate YAML, preupload
(`regular`, or `lfs` for files the repo's `.gitattributes` tracks or of 10 MiB and more), the LFS batch API
(`/{repo}.git/info/lfs/objects/batch`, `basic` transfer: a PUT of the bytes to the stand-in CDN, as to a presigned
S3 URL, without the token, then a verify POST to the Hub), commit (NDJSON: `file` base64 and `lfsFile` by sha256,
which must have been uploaded and verified), create tag. Every write needs a bearer token (one of `user_tokens` when
any is given), as the Hub's do. The server speaks LFS, not Xet: `point_clients_at` turns hf_xet off
(`HF_HUB_DISABLE_XET`), so the client uploads as it does without hf_xet installed. `hub.fail(...)` answers chosen
requests with an error status (a Hub outage) for retry tests.

Read side, for repos a test registers (`add_dataset`, `add_model`, `add_repo`) or publishes: repo info (`sha`,
`siblings`, `private`, `gated`), the tree and paths-info APIs (recursive, expand, paginated with a `Link` header),
commits, refs, and file downloads at `/{repo}/resolve/{revision}/{path}` (models) and
`/datasets/{repo}/resolve/{revision}/{path}` (datasets), HEAD and GET, with the headers huggingface_hub checks
(`ETag`, `X-Repo-Commit`, `Content-Length`; byte ranges). Files tracked by LFS (the repo's `.gitattributes`, else the
Hub's default one) are answered as the Hub does: a 302 to a CDN (a second local server on another port, so the client
drops the token as it does for the real CDN) carrying `X-Linked-Etag` (sha256) and `X-Linked-Size`. Small files have
the git blob sha1 as ETag. Errors carry the Hub's `X-Error-Code` (RepoNotFound, RevisionNotFound, EntryNotFound,
GatedRepo), so the client raises its real exceptions.

Commits are content-addressed: the same files on the same parent give the same sha; new content gives a new sha.
Every request is logged in `hub.state.requests`, every file body served in `hub.state.downloads`.

Point already-imported clients at a server with `point_clients_at(hub, monkeypatch, tmp_path)` or use the `local_hub`
fixture (in a test module: `local_hub = hub_server.local_hub`, or list the module in `pytest_plugins`)."""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest

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

_PREFIX = {"model": "", "dataset": "datasets/"}
_API = {"models": "model", "datasets": "dataset"}


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _truthy(values: list[str] | None) -> bool:
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
        return _git_blob_sha1(self.pointer if self.lfs else self.data)

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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the clients download with thread pools (8 to 16 connections at once)


@dataclass
class _Fault:
    method: str
    path: str  # a substring of the percent-decoded path
    status: int
    times: int | None  # None: every matching request


# The size from which the Hub stores a file in LFS whatever `.gitattributes` says.
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024


class _HubError(Exception):
    def __init__(self, status: int, code: str | None, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


class LocalHubServer:
    """`with LocalHubServer() as hub:` then `HF_ENDPOINT=hub.endpoint` (or `point_clients_at`).

    `require_token`: every Hub request must send `Authorization: Bearer <require_token>` (401 otherwise).
    `user_tokens`: the tokens that open private and gated repos and may write (with `require_token`, that one too);
    when none is known, any bearer token does (a user who has been granted access). `tree_page_size`: entries per
    page of the tree API (the Hub's 1000, and 50 with `expand`, by default)."""

    def __init__(
        self,
        require_token: str | None = None,
        *,
        user_tokens: Iterable[str] = (),
        tree_page_size: int | None = None,
    ) -> None:
        self.state = HubState()
        self.require_token = require_token
        self.user_tokens = {t for t in (require_token, *user_tokens) if t}
        self.tree_page_size = tree_page_size
        self._lock = threading.RLock()
        self._blobs: dict[str, bytes] = {}  # sha256 -> bytes, what the CDN serves
        self._uploaded: dict[str, bytes] = {}  # sha256 -> bytes PUT to the CDN by the LFS protocol, not yet verified
        self._faults: list[_Fault] = []
        self.httpd = _Server(("127.0.0.1", 0), self._handler(cdn=False))
        self.cdn_httpd = _Server(("127.0.0.1", 0), self._handler(cdn=True))
        self._threads = []
        for server in (self.httpd, self.cdn_httpd):
            self._threads.append(
                threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            )

    # -- addresses -------------------------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def cdn_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.cdn_httpd.server_address[1]}"

    def url(self, repo_id: str) -> str:
        return f"{self.endpoint}/{repo_id}"

    def __enter__(self) -> LocalHubServer:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in (self.httpd, self.cdn_httpd):
            server.shutdown()
            server.server_close()

    # -- registering repos -----------------------------------------------------------------------------------------

    def add_repo(
        self,
        repo_type: str,
        repo_id: str,
        files: Mapping[str, bytes | str | Path] | Path,
        revision: str = "main",
        *,
        private: bool | None = None,
        gated: bool | str | None = None,
        replace: bool = False,
        delete: Iterable[str] = (),
        lfs: Iterable[str] | bool | None = None,
        message: str | None = None,
    ) -> str:
        """Commit `files` (path in repo -> bytes, text or a local file; or a local folder, all its files) on branch
        `revision` of a hosted repo (created if new; a new branch starts from `main`) and return the commit sha.

        The commit adds or overwrites `files` on top of the branch (`replace=True`: the tree is exactly `files`),
        removing `delete`. LFS: the `.gitattributes` in the tree (else the Hub's default) decides, unless `lfs` names
        the LFS paths (or True/False for all). Committing the tree the branch already has returns its sha unchanged."""
        if repo_type not in _PREFIX:
            raise ValueError(f"repo_type must be 'model' or 'dataset', not {repo_type!r}")
        new = _read_files(files)
        with self._lock:
            repo = self.state.hosted.get((repo_type, repo_id))
            if repo is None:
                repo = self.state.hosted[(repo_type, repo_id)] = HubRepo(repo_type, repo_id)
            if private is not None:
                repo.private = private
            if gated is not None:
                repo.gated = "auto" if gated is True else gated
            if revision in repo.tags:
                raise ValueError(f"{revision!r} is a tag of {repo_id}; commit to a branch")
            head = repo.resolve(revision) if revision in repo.refs else repo.resolve("main")
            tree = {} if replace or head is None else {p: f.data for p, f in head.files.items()}
            tree.update(new)
            for path in delete:
                tree.pop(path, None)
            attributes = tree.get(".gitattributes", HUB_DEFAULT_GITATTRIBUTES.encode()).decode()
            committed = {p: HubFile(d, _is_lfs(p, attributes, lfs)) for p, d in sorted(tree.items())}
            if head is not None and revision in repo.refs and _same_tree(committed, head.files):
                return head.oid
            parent = head.oid if head is not None else None
            title = message or f"Upload {len(new)} file{'s' if len(new) != 1 else ''}"
            oid = hashlib.sha1(
                "\n".join(
                    [f"{repo_type}:{repo_id}", f"parent {parent}", title]
                    + [f"{p} {f.oid}" for p, f in committed.items()]
                ).encode()
            ).hexdigest()
            repo.commits[oid] = HubCommit(oid, committed, title, _now(), parent)
            repo.refs[revision] = oid
            for f in committed.values():
                if f.lfs:
                    self._blobs[f.sha256] = f.data
            return oid

    def add_dataset(self, repo_id: str, files: Mapping[str, bytes | str | Path] | Path, revision: str = "main", **kw):
        """`add_repo("dataset", ...)`: returns the commit sha."""
        return self.add_repo("dataset", repo_id, files, revision, **kw)

    def add_model(self, repo_id: str, folder: Mapping[str, bytes | str | Path] | Path, revision: str = "main", **kw):
        """`add_repo("model", ...)` with a local folder (or a files mapping): returns the commit sha."""
        return self.add_repo("model", repo_id, folder, revision, **kw)

    def create_tag(self, repo_id: str, tag: str, revision: str = "main", *, repo_type: str = "dataset") -> str:
        """Tag the commit `revision` points at; returns its sha."""
        with self._lock:
            repo = self.state.hosted[(repo_type, repo_id)]
            commit = repo.resolve(revision)
            if commit is None:
                raise KeyError(f"{repo_id} has no revision {revision!r}")
            repo.refs[tag] = commit.oid
            repo.tags.add(tag)
            return commit.oid

    def commit_sha(self, repo_id: str, revision: str = "main", *, repo_type: str = "dataset") -> str:
        commit = self.state.hosted[(repo_type, repo_id)].resolve(revision)
        if commit is None:
            raise KeyError(f"{repo_id} has no revision {revision!r}")
        return commit.oid

    def fail(self, method: str, path: str, status: int = 503, times: int | None = 1) -> None:
        """Answer the next `times` requests (every one with `times=None`) of `method` whose path contains `path` with
        `status`, before any route sees them: the Hub or its storage failing."""
        with self._lock:
            self._faults.append(_Fault(method, path, status, times))

    # -- what tests assert on --------------------------------------------------------------------------------------

    def requested(self, method: str | None = None, *, contains: str = "", cdn: bool | None = False) -> list[str]:
        """'METHOD path' (percent-decoded) of the logged requests: to the Hub (`cdn=False`, the default), to the CDN
        (`cdn=True`) or both (`None`); optionally of one method, or containing a string."""
        with self._lock:
            out = [
                f"{r.method} {unquote(r.path)}"
                for r in self.state.requests
                if method in (None, r.method) and cdn in (None, r.cdn)
            ]
        return [line for line in out if contains in line]

    # -- the HTTP side ---------------------------------------------------------------------------------------------

    def _handler(self, *, cdn: bool) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            _status = 0

            def log_message(self, *args: Any) -> None:
                return

            def send_response(self, code: int, message: str | None = None) -> None:
                self._status = code
                hub._log(self, cdn)  # before the client can read the response, so a test sees it logged
                super().send_response(code, message)

            def do_GET(self) -> None:
                hub._serve(self, "GET", cdn)

            def do_HEAD(self) -> None:
                hub._serve(self, "HEAD", cdn)

            def do_POST(self) -> None:
                hub._serve(self, "POST", cdn)

            def do_PUT(self) -> None:
                hub._serve(self, "PUT", cdn)

        return Handler

    def _serve(self, handler: Any, method: str, cdn: bool) -> None:
        handler._status, handler._logged = 0, False
        split = urlsplit(handler.path)
        try:
            try:
                self._inject_fault(handler, method, split.path)
                if cdn:
                    self._cdn(handler, method, split.path)
                else:
                    self._route(handler, method, split.path, parse_qs(split.query))
            except _HubError as err:
                self._error(handler, method, err)
            except Exception as exc:  # a bug here: say so in `unexpected` rather than drop the connection
                with self._lock:
                    self.state.unexpected.append(f"{method} {handler.path} -> 500 {exc!r}")
                self._error(handler, method, _HubError(500, None, f"local hub error: {exc!r}"))
        finally:
            self._log(handler, cdn)  # a request that got no response at all

    def _log(self, handler: Any, cdn: bool) -> None:
        if getattr(handler, "_logged", False):
            return
        handler._logged = True
        split = urlsplit(handler.path)
        authorization = handler.headers.get("Authorization", "")
        with self._lock:
            self.state.requests.append(
                HubRequest(handler.command, split.path, split.query, authorization, handler._status, cdn)
            )

    def _inject_fault(self, handler: Any, method: str, path: str) -> None:
        with self._lock:
            fault = next((f for f in self._faults if f.method == method and f.path in unquote(path)), None)
            if fault is None:
                return
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
            self.state.failed.append(f"{method} {unquote(path)} -> {fault.status}")
        _read_body(handler)  # the client sent its body: read it, so the connection stays usable
        raise _HubError(fault.status, None, "Service Unavailable (injected by the test)")

    def _route(self, handler: Any, method: str, path: str, query: dict[str, list[str]]) -> None:
        body = _read_body(handler) if method in ("POST", "PUT") else b""
        if method == "POST":
            with self._lock:
                self.state.auth_headers.append(handler.headers.get("Authorization", ""))
        self._check_server_token(handler)
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 4 and parts[1] in _API:
            repo_type, repo_id, rest = _API[parts[1]], f"{unquote(parts[2])}/{unquote(parts[3])}", parts[4:]
            if method == "POST":
                if rest[:1] == ["paths-info"] and len(rest) == 2:
                    return self._paths_info(handler, repo_type, repo_id, unquote(rest[1]), body)
                if repo_type == "model" and len(rest) >= 2 and rest[0] in ("preupload", "commit", "tag"):
                    return self._publish(handler, repo_id, rest[0], unquote("/".join(rest[1:])), body)
            elif not rest or (rest[0] == "revision" and len(rest) >= 2):
                revision = unquote("/".join(rest[1:])) if rest else None
                return self._info(handler, method, repo_type, repo_id, revision, query)
            elif rest[0] == "tree" and len(rest) >= 2:
                sub = unquote("/".join(rest[2:]))
                return self._tree(handler, method, repo_type, repo_id, unquote(rest[1]), sub, query, path)
            elif rest[0] == "commits":
                return self._commits(handler, repo_type, repo_id, unquote("/".join(rest[1:])) or "main")
            elif rest == ["refs"]:
                return self._refs(handler, repo_type, repo_id)
            elif rest[:1] == ["parquet"]:
                self._repo(handler, repo_type, repo_id)
                raise _HubError(404, None, f"No parquet export for {repo_id}")  # the Hub's converter never ran
        elif method in ("GET", "HEAD") and len(parts) >= 5 and parts[0] == "datasets" and parts[3] == "resolve":
            repo_id, revision, file = f"{unquote(parts[1])}/{unquote(parts[2])}", unquote(parts[4]), parts[5:]
            return self._resolve(handler, method, "dataset", repo_id, revision, unquote("/".join(file)))
        elif method in ("GET", "HEAD") and len(parts) >= 4 and parts[2] == "resolve" and parts[0] != "api":
            repo_id, revision, file = f"{unquote(parts[0])}/{unquote(parts[1])}", unquote(parts[3]), parts[4:]
            return self._resolve(handler, method, "model", repo_id, revision, unquote("/".join(file)))
        elif path == "/api/agent-harnesses":
            # huggingface_hub fetches the AI-agent registry once per process (telemetry, best effort): answered as
            # an unreachable Hub would be, so the client keeps its empty registry and caches nothing.
            raise _HubError(404, None, "not served by the local hub")
        elif method == "POST" and path == "/api/validate-yaml":
            return self._validate_yaml(handler, body)
        elif method == "POST" and path == "/api/repos/create":
            return self._create_repo(handler, body)
        elif (
            method == "POST"
            and len(parts) == 6
            and parts[1].endswith(".git")
            and parts[2:5] == ["info", "lfs", "objects"]
        ):
            repo_id = f"{unquote(parts[0])}/{unquote(parts[1])[: -len('.git')]}"
            if parts[5] == "batch":
                return self._lfs_batch(handler, repo_id, body)
            if parts[5] == "verify":
                return self._lfs_verify(handler, repo_id, body)
        with self._lock:
            self.state.unexpected.append(f"{method} {handler.path}")
        raise _HubError(404, None, f"not implemented in the local hub: {handler.path}")

    # -- auth ------------------------------------------------------------------------------------------------------

    @staticmethod
    def _bearer(handler: Any) -> str | None:
        header = handler.headers.get("Authorization", "")
        return header[len("Bearer ") :].strip() or None if header.startswith("Bearer ") else None

    def _check_server_token(self, handler: Any) -> None:
        if self.require_token is None:
            return
        token = self._bearer(handler)
        if token is None:
            raise _HubError(401, "RepoNotFound", "Invalid username or password.")
        if token != self.require_token:
            raise _HubError(401, None, "Invalid credentials in Authorization header")

    def _check_write_token(self, handler: Any) -> None:
        """The Hub's write routes need a token that may write: any bearer token, or one of `user_tokens` if any."""
        token = self._bearer(handler)
        if token is None:
            raise _HubError(401, None, "Invalid username or password.")
        if self.user_tokens and token not in self.user_tokens:
            raise _HubError(401, None, "Invalid credentials in Authorization header")

    def _repo(self, handler: Any, repo_type: str, repo_id: str) -> HubRepo:
        repo = self.state.hosted.get((repo_type, repo_id))
        if repo is None:
            raise _HubError(404, "RepoNotFound", "Repository not found")
        if repo.private or repo.gated:
            token = self._bearer(handler)
            if token is not None and self.user_tokens and token not in self.user_tokens:
                raise _HubError(401, None, "Invalid credentials in Authorization header")
            if token is None and repo.gated:
                raise _HubError(
                    401,
                    "GatedRepo",
                    f"Access to {repo_type} {repo_id} is restricted. You must have access to it and be authenticated "
                    "to access it. Please log in.",
                )
            if token is None:
                raise _HubError(401, "RepoNotFound", "Invalid username or password.")
        return repo

    def _commit(self, handler: Any, repo_type: str, repo_id: str, revision: str) -> tuple[HubRepo, HubCommit]:
        repo = self._repo(handler, repo_type, repo_id)
        commit = repo.resolve(revision)
        if commit is None:
            raise _HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return repo, commit

    # -- responses -------------------------------------------------------------------------------------------------

    @staticmethod
    def _send(handler: Any, method: str, status: int, body: bytes, headers: dict[str, str], content_type: str) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        if method != "HEAD":
            handler.wfile.write(body)

    def _json(self, handler: Any, method: str, payload: Any, status: int = 200, headers: dict | None = None) -> None:
        self._send(handler, method, status, json.dumps(payload).encode(), headers or {}, "application/json")

    def _error(self, handler: Any, method: str, err: _HubError) -> None:
        headers = {"X-Error-Message": err.message.encode("ascii", "backslashreplace").decode(), **err.headers}
        if err.code:
            headers["X-Error-Code"] = err.code
        self._json(handler, method, {"error": err.message}, err.status, headers)

    def _file(self, handler: Any, method: str, data: bytes, headers: dict[str, str], download: str) -> None:
        """A file body, honouring a single `Range: bytes=a-b` (206) as the Hub and its CDN do."""
        status, body, extra = 200, data, {"Accept-Ranges": "bytes"}
        wanted = handler.headers.get("Range", "")
        if wanted.startswith("bytes=") and "," not in wanted:
            first, _, last = wanted[len("bytes=") :].partition("-")
            start = int(first) if first else max(len(data) - int(last), 0)
            end = int(last) if first and last else len(data) - 1
            if start >= len(data):
                raise _HubError(416, None, "Range Not Satisfiable", {"Content-Range": f"bytes */{len(data)}"})
            end = min(end, len(data) - 1)
            status, body = 206, data[start : end + 1]
            extra["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        if method == "GET":
            with self._lock:
                self.state.downloads.append(download)
        self._send(handler, method, status, body, {**headers, **extra}, "application/octet-stream")

    # -- read routes -----------------------------------------------------------------------------------------------

    def _info(self, handler, method, repo_type, repo_id, revision, query) -> None:
        shown = revision or "main"
        if repo_type == "dataset":
            with self._lock:
                self.state.dataset_info_calls.append(f"{repo_id}@{shown}")
            override = self.state.dataset_shas.get(f"{repo_id}@{shown}")
            if override is not None:
                return self._json(handler, method, {"id": repo_id, "sha": override, "private": False, "siblings": []})
        repo, commit = self._commit(handler, repo_type, repo_id, shown)
        blobs = _truthy(query.get("blobs"))
        siblings = []
        for path, f in commit.files.items():
            sibling: dict[str, Any] = {"rfilename": path}
            if blobs:
                sibling.update(size=len(f.data), blobId=f.oid)
                if f.lfs:
                    sibling["lfs"] = {"sha256": f.sha256, "size": len(f.data), "pointerSize": len(f.pointer)}
            siblings.append(sibling)
        first = commit
        while first.parent is not None:
            first = repo.commits[first.parent]
        payload: dict[str, Any] = {
            "_id": hashlib.md5(f"{repo_type}:{repo_id}".encode()).hexdigest()[:24],
            "id": repo_id,
            "author": repo_id.split("/")[0],
            "sha": commit.oid,
            "lastModified": commit.date,
            "createdAt": first.date,
            "private": repo.private,
            "gated": repo.gated,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "usedStorage": sum(len(f.data) for f in commit.files.values()),
        }
        card = _card_data(commit.files.get("README.md"))
        if card is not None:
            payload["cardData"] = card
        if repo_type == "model":
            payload["modelId"] = repo_id
        self._json(handler, method, payload)

    def _entries(self, repo: HubRepo, commit: HubCommit, expand: bool) -> dict[str, dict[str, Any]]:
        """Every file and folder of `commit` as the tree API shows it (path -> entry)."""
        out: dict[str, dict[str, Any]] = {}
        for path, f in commit.files.items():
            out[path] = f.entry(path)
            parts = path.split("/")
            for depth in range(1, len(parts)):
                folder = "/".join(parts[:depth])
                out.setdefault(folder, {"type": "directory", "oid": _tree_oid(commit.files, folder), "size": 0})
                out[folder]["path"] = folder
        if expand:
            for path, entry in out.items():
                last = _last_commit(repo, commit, path)
                entry["lastCommit"] = {"id": last.oid, "title": last.title, "date": last.date}
                if entry["type"] == "file":
                    entry["securityFileStatus"] = {
                        "status": "safe",
                        "avScan": {"virusFound": False, "virusNames": None},
                        "pickleImportScan": None,
                    }
        return out

    def _tree(self, handler, method, repo_type, repo_id, revision, sub, query, path) -> None:
        repo, commit = self._commit(handler, repo_type, repo_id, revision)
        expand = _truthy(query.get("expand"))
        entries = self._entries(repo, commit, expand)
        if sub and (sub not in entries or entries[sub]["type"] != "directory"):
            if sub in entries:  # the Hub lists a file path as the file itself
                return self._json(handler, method, [entries[sub]])
            raise _HubError(404, "EntryNotFound", f"{sub} does not exist on {revision}", {"X-Repo-Commit": commit.oid})
        prefix = f"{sub}/" if sub else ""
        recursive = _truthy(query.get("recursive"))
        listing = [
            e
            for p, e in sorted(entries.items())
            if p.startswith(prefix) and (recursive or "/" not in p[len(prefix) :])
        ]
        size = self.tree_page_size or (50 if expand else 1000)
        cursor = int((query.get("cursor") or ["0"])[-1])
        page, headers = listing[cursor : cursor + size], {}
        if cursor + size < len(listing):
            params = f"recursive={str(recursive).lower()}&expand={str(expand).lower()}&cursor={cursor + size}"
            headers["Link"] = f'<{self.endpoint}{path}?{params}>; rel="next"'
        self._json(handler, method, page, headers=headers)

    def _paths_info(self, handler, repo_type, repo_id, revision, body) -> None:
        repo, commit = self._commit(handler, repo_type, repo_id, revision)
        form = parse_qs(body.decode())
        if "application/json" in handler.headers.get("Content-Type", ""):
            payload = json.loads(body or b"{}")
            form = {"paths": payload.get("paths", []), "expand": [str(payload.get("expand", False))]}
        entries = self._entries(repo, commit, _truthy(form.get("expand")))
        wanted = [p.strip("/") for p in form.get("paths", [])]
        self._json(handler, "POST", [entries[p] for p in wanted if p in entries])

    def _commits(self, handler, repo_type, repo_id, revision) -> None:
        repo, commit = self._commit(handler, repo_type, repo_id, revision)
        out = []
        while commit is not None:
            out.append(
                {
                    "id": commit.oid,
                    "title": commit.title,
                    "message": "",
                    "date": commit.date,
                    "authors": [{"user": repo_id.split("/")[0]}],
                }
            )
            commit = repo.commits.get(commit.parent) if commit.parent else None
        self._json(handler, "GET", out)

    def _refs(self, handler, repo_type, repo_id) -> None:
        repo = self._repo(handler, repo_type, repo_id)
        refs = {"branches": [], "tags": [], "converts": []}
        for name, oid in sorted(repo.refs.items()):
            kind = "tags" if name in repo.tags else "branches"
            refs[kind].append(
                {"name": name, "ref": f"refs/{'tags' if kind == 'tags' else 'heads'}/{name}", "targetCommit": oid}
            )
        self._json(handler, "GET", refs)

    def _resolve(self, handler, method, repo_type, repo_id, revision, file) -> None:
        _, commit = self._commit(handler, repo_type, repo_id, revision)
        f = commit.files.get(file)
        if f is None:
            raise _HubError(
                404, "EntryNotFound", f"{file} does not exist on {revision}", {"X-Repo-Commit": commit.oid}
            )
        headers = {"X-Repo-Commit": commit.oid, "ETag": f'"{f.etag}"'}
        if f.lfs:  # the Hub answers LFS files with a redirect to its CDN, carrying the real file's etag and size
            location = (
                f"{self.cdn_endpoint}/{_PREFIX[repo_type]}{repo_id}/{f.sha256}?commit={commit.oid}&file={quote(file)}"
            )
            headers.update({"Location": location, "X-Linked-Etag": f'"{f.sha256}"', "X-Linked-Size": str(len(f.data))})
            return self._send(handler, method, 302, b"", headers, "text/plain")
        self._file(handler, method, f.data, headers, f"{_PREFIX[repo_type]}{repo_id}@{commit.oid}/{file}")

    def _cdn(self, handler: Any, method: str, path: str) -> None:
        if method == "PUT" and path.startswith("/lfs-upload/"):
            # The LFS `basic` transfer's upload: a PUT of the bytes to the storage URL the batch API gave.
            sha256, data = path.rsplit("/", 1)[-1], _read_body(handler)
            if hashlib.sha256(data).hexdigest() != sha256:
                raise _HubError(400, None, "BadDigest: the body's sha256 is not the object's")
            with self._lock:
                self._uploaded[sha256] = data
            return self._send(handler, method, 200, b"", {"ETag": f'"{hashlib.md5(data).hexdigest()}"'}, "text/plain")
        sha256 = path.rstrip("/").rsplit("/", 1)[-1]
        data = self._blobs.get(sha256)
        if method not in ("GET", "HEAD") or data is None:
            raise _HubError(404, None, "NoSuchKey")
        query = parse_qs(urlsplit(handler.path).query)
        repo_path = unquote(path.strip("/").rsplit("/", 1)[0])
        download = f"{repo_path}@{query.get('commit', ['?'])[-1]}/{query.get('file', ['?'])[-1]}"
        self._file(handler, method, data, {"ETag": f'"{sha256}"'}, download)

    # -- publish (write) routes ------------------------------------------------------------------------------------

    def _validate_yaml(self, handler: Any, body: bytes) -> None:
        # The client asks the Hub to validate the model card's metadata before committing.
        import yaml

        content = json.loads(body)["content"]
        meta = yaml.safe_load(content.split("---")[1]) if content.startswith("---") else None
        with self._lock:
            self.state.validated.append(meta)
        errors = [] if isinstance(meta, dict) else [{"message": "no YAML metadata"}]
        self._json(handler, "POST", {"errors": errors, "warnings": []}, 200 if not errors else 400)

    def _create_repo(self, handler: Any, body: bytes) -> None:
        self._check_write_token(handler)
        request = json.loads(body)
        repo_id = f"{request.get('organization') or 'user'}/{request['name']}"
        if repo_id in self.state.repos:
            return self._json(
                handler, "POST", {"error": "You already created this model repo", "url": self.url(repo_id)}, 409
            )
        visibility = request.get("visibility", "private" if request.get("private") else "public")
        with self._lock:
            self.state.repos[repo_id] = {"visibility": visibility, "files": {}}
            repo_type = request.get("type") or "model"
            if repo_type in _PREFIX and (repo_type, repo_id) not in self.state.hosted:  # the Hub's first commit
                files = {".gitattributes": HUB_DEFAULT_GITATTRIBUTES}
                self.add_repo(repo_type, repo_id, files, private=visibility == "private", message="initial commit")
        self._json(handler, "POST", {"url": self.url(repo_id)})

    def _gitattributes(self, repo_id: str, revision: str) -> str:
        repo = self.state.hosted.get(("model", repo_id))
        head = repo.resolve(revision) if repo is not None else None
        f = head.files.get(".gitattributes") if head is not None else None
        return f.data.decode() if f is not None else HUB_DEFAULT_GITATTRIBUTES

    def _publish(self, handler: Any, repo_id: str, action: str, revision: str, body: bytes) -> None:
        self._check_write_token(handler)
        if repo_id not in self.state.repos:
            raise _HubError(404, "RepoNotFound", "Repository not found")
        if action == "preupload":
            attributes, answers = self._gitattributes(repo_id, revision), []
            for f in json.loads(body)["files"]:
                lfs = f["size"] >= LFS_SIZE_THRESHOLD or _is_lfs(f["path"], attributes, None)
                mode = "lfs" if lfs else "regular"
                answers.append({"path": f["path"], "uploadMode": mode, "shouldIgnore": False})
                with self._lock:
                    self.state.preuploads.append(
                        {"repo_id": repo_id, "path": f["path"], "size": f["size"], "mode": mode}
                    )
            return self._json(handler, "POST", {"files": answers, "commitOid": None})
        if action == "commit":
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            files = {
                ln["value"]["path"]: base64.b64decode(ln["value"]["content"]) for ln in lines if ln["key"] == "file"
            }
            lfs_files = {ln["value"]["path"]: ln["value"]["oid"] for ln in lines if ln["key"] == "lfsFile"}
            missing = sorted(p for p, sha in lfs_files.items() if sha not in self._blobs)
            if missing:  # the Hub refuses a commit that points at LFS objects it does not have
                raise _HubError(
                    422,
                    None,
                    f"Your push was rejected because an LFS pointer pointed to a file that does not exist: {missing}",
                )
            files.update({p: self._blobs[sha] for p, sha in lfs_files.items()})
            deleted = [ln["value"]["path"] for ln in lines if ln["key"] in ("deletedFile", "deletedFolder")]
            with self._lock:
                # A new commit on its parent: the same files committed twice give two commits, as on the Hub.
                hosted = self.state.hosted.get(("model", repo_id))
                head = hosted.resolve(revision) if hosted is not None else None
                parent = head.oid if head is not None else ""
                oid = hashlib.sha1(f"parent {parent}\n".encode() + body).hexdigest()
                self.state.repos[repo_id]["files"].update(files)
                self.state.commits.append(
                    {
                        "repo_id": repo_id,
                        "oid": oid,
                        "files": files,
                        "lfs_files": sorted(lfs_files),
                        "header": lines[0]["value"],
                    }
                )
                self._record_published_commit(repo_id, revision, oid, files, deleted, lines[0]["value"])
            return self._json(handler, "POST", {"commitUrl": f"{self.url(repo_id)}/commit/{oid}", "commitOid": oid})
        # tag
        request = json.loads(body)
        with self._lock:
            self.state.tags.append({"repo_id": repo_id, "revision": revision, **request})
            repo = self.state.hosted.get(("model", repo_id))
            if repo is not None and repo.resolve(revision) is not None and request.get("tag"):
                repo.refs[request["tag"]] = repo.resolve(revision).oid
                repo.tags.add(request["tag"])
        self._json(handler, "POST", {})

    def _lfs_batch(self, handler: Any, repo_id: str, body: bytes) -> None:
        """The LFS batch API (upload): an object the Hub has gets no actions (the client skips it); a new one gets a
        `basic` upload href on the storage host (no token goes there) and a verify href on the Hub."""
        self._check_write_token(handler)
        if repo_id not in self.state.repos:
            raise _HubError(404, "RepoNotFound", "Repository not found")
        request = json.loads(body)
        if request.get("operation") != "upload" or "basic" not in request.get("transfers", ["basic"]):
            raise _HubError(400, None, f"only the basic upload transfer is served here: {request!r}")
        objects = []
        for obj in request["objects"]:
            entry: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in self._blobs:
                entry["actions"] = {
                    "upload": {"href": f"{self.cdn_endpoint}/lfs-upload/{obj['oid']}", "expires_in": 86400},
                    "verify": {"href": f"{self.endpoint}/{repo_id}.git/info/lfs/objects/verify", "expires_in": 86400},
                }
            objects.append(entry)
        self._json(handler, "POST", {"transfer": "basic", "objects": objects})

    def _lfs_verify(self, handler: Any, repo_id: str, body: bytes) -> None:
        self._check_write_token(handler)
        request = json.loads(body)
        with self._lock:
            data = self._uploaded.get(request["oid"])
            if data is None or len(data) != request["size"]:
                raise _HubError(404, None, f"LFS object {request['oid']} was not uploaded (or not whole)")
            self._blobs[request["oid"]] = self._uploaded.pop(request["oid"])
            self.state.lfs_uploads.append({"repo_id": repo_id, "oid": request["oid"], "size": request["size"]})
        self._json(handler, "POST", {"message": "verified"})

    def _record_published_commit(self, repo_id, revision, oid, files, deleted, header) -> None:
        """Make a published commit downloadable: the hosted model repo gets it, under the oid the client was told."""
        repo = self.state.hosted.setdefault(("model", repo_id), HubRepo("model", repo_id))
        head = repo.resolve(revision)
        tree = {p: f.data for p, f in head.files.items()} if head is not None else {}
        tree.update(files)
        for path in deleted:
            tree = {p: d for p, d in tree.items() if p != path and not p.startswith(path.rstrip("/") + "/")}
        attributes = tree.get(".gitattributes", HUB_DEFAULT_GITATTRIBUTES.encode()).decode()
        committed = {p: HubFile(d, _is_lfs(p, attributes, None)) for p, d in sorted(tree.items())}
        title = header.get("summary") or "Upload folder"
        repo.commits[oid] = HubCommit(oid, committed, title, _now(), head.oid if head is not None else None)
        repo.refs[revision] = oid
        for f in committed.values():
            if f.lfs:
                self._blobs[f.sha256] = f.data


def _read_body(handler: Any) -> bytes:
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


def _read_files(files: Mapping[str, bytes | str | Path] | Path) -> dict[str, bytes]:
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


def _is_lfs(path: str, gitattributes: str, override: Iterable[str] | bool | None) -> bool:
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


def _same_tree(a: dict[str, HubFile], b: dict[str, HubFile]) -> bool:
    return a.keys() == b.keys() and all(a[p].oid == b[p].oid and a[p].lfs == b[p].lfs for p in a)


def _tree_oid(files: dict[str, HubFile], folder: str) -> str:
    prefix = folder + "/"
    listing = "\n".join(f"{p} {f.oid}" for p, f in sorted(files.items()) if p.startswith(prefix))
    return hashlib.sha1(b"tree " + listing.encode()).hexdigest()


def _fingerprint(commit: HubCommit, path: str) -> str | None:
    f = commit.files.get(path)
    if f is not None:
        return f.oid
    return _tree_oid(commit.files, path) if any(p.startswith(path + "/") for p in commit.files) else None


def _last_commit(repo: HubRepo, commit: HubCommit, path: str) -> HubCommit:
    """The commit that last changed `path` (a file or a folder) in the history of `commit`."""
    mine = _fingerprint(commit, path)
    while commit.parent is not None:
        parent = repo.commits[commit.parent]
        if _fingerprint(parent, path) != mine:
            break
        commit = parent
    return commit


def _card_data(readme: HubFile | None) -> dict[str, Any] | None:
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


# -- pointing clients at a server ----------------------------------------------------------------------------------


def point_clients_at(hub: LocalHubServer, monkeypatch: pytest.MonkeyPatch, cache_root: Path) -> None:
    """Send huggingface_hub and datasets (already imported or not) to `hub`, online, with no token unless a test sets
    HF_TOKEN or passes one, and with their caches under `cache_root`.

    Both libraries read their settings once, at import: HF_ENDPOINT into `huggingface_hub.constants.ENDPOINT` and
    `HUGGINGFACE_CO_URL_TEMPLATE` (file URLs) and into `datasets.config.HF_ENDPOINT`/`HUB_DATASETS_URL`; offline mode
    into `HF_HUB_OFFLINE` of both (the `hub_offline` fixture sets it); the token file path; the cache folders. The
    environment is set too, for code that reads it at call time or in a subprocess. `datasets` also pings an S3
    bucket to count downloads: turned off here, so nothing leaves the machine."""
    import huggingface_hub.constants as hf_constants
    from huggingface_hub import HfFileSystem

    hub_cache = cache_root / "hub"
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE", "HUGGINGFACE_CO_STAGING"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")  # this server speaks LFS, not Xet
    monkeypatch.setenv("HF_UPDATE_DOWNLOAD_COUNTS", "0")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache_root / "datasets"))
    monkeypatch.setenv("HF_TOKEN_PATH", str(cache_root / "token"))

    monkeypatch.setattr(hf_constants, "ENDPOINT", hub.endpoint)
    monkeypatch.setattr(
        hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setattr(hf_constants, "HUGGINGFACE_HUB_CACHE", str(hub_cache))
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(cache_root / "token"))
    monkeypatch.setattr(hf_constants, "HF_STORED_TOKENS_PATH", str(cache_root / "stored_tokens"))
    monkeypatch.setattr(hf_constants, "AGENT_HARNESSES_PATH", str(cache_root / ".agent_harnesses.json"))
    monkeypatch.setattr(hf_constants, "HF_URL_HOSTS", hf_constants.HF_URL_HOSTS | {"127.0.0.1"})
    from huggingface_hub.utils import _http

    if hasattr(_http, "_HUB_ORIGINS"):
        monkeypatch.setattr(_http, "_HUB_ORIGINS", _http._HUB_ORIGINS | {_http._url_origin(hub.endpoint)})
    try:
        import datasets.config as ds_config
    except ImportError:
        pass
    else:
        monkeypatch.setattr(ds_config, "HF_ENDPOINT", hub.endpoint)
        monkeypatch.setattr(
            ds_config, "HUB_DATASETS_URL", hub.endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}"
        )
        monkeypatch.setattr(ds_config, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(ds_config, "HF_DATASETS_OFFLINE", False)
        monkeypatch.setattr(ds_config, "HF_UPDATE_DOWNLOAD_COUNTS", False)
        monkeypatch.setattr(ds_config, "HF_DATASETS_CACHE", cache_root / "datasets")
        monkeypatch.setattr(ds_config, "DOWNLOADED_DATASETS_PATH", cache_root / "datasets" / "downloads")
        monkeypatch.setattr(ds_config, "EXTRACTED_DATASETS_PATH", cache_root / "datasets" / "downloads" / "extracted")
    # fsspec keeps HfFileSystem instances (and their listings) per endpoint and token: start from none.
    HfFileSystem.clear_instance_cache()


@pytest.fixture
def local_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LocalHubServer]:
    """A running `LocalHubServer` with huggingface_hub and datasets pointed at it (online, no token, caches under
    tmp_path): the opposite of `hub_offline`. Register repos with `local_hub.add_dataset(...)`/`add_model(...)`."""
    from huggingface_hub import HfFileSystem

    with LocalHubServer() as hub:
        point_clients_at(hub, monkeypatch, tmp_path / "hf-cache")
        yield hub
    HfFileSystem.clear_instance_cache()
