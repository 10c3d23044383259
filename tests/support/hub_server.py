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
fixture (both in tests/support/hub_clients.py; in a test module: `local_hub = hub_clients.local_hub`). The server's
data and pure functions are in hub_state.py, its read and publish routes in hub_reads.py and hub_writes.py."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support.hub_reads import HubReadRoutes
from tests.support.hub_state import (
    API_REPO_TYPES,
    HUB_DEFAULT_GITATTRIBUTES,
    REPO_PATH_PREFIX,
    HubCommit,
    HubError,
    HubFile,
    HubRepo,
    HubRequest,
    HubState,
    is_lfs,
    now,
    read_body,
    read_files,
    same_tree,
)
from tests.support.hub_writes import HubWriteRoutes

__all__ = ["HUB_DEFAULT_GITATTRIBUTES", "HubState", "LocalHubServer"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the clients download with thread pools (8 to 16 connections at once)


@dataclass
class _Fault:
    method: str
    path: str  # a substring of the percent-decoded path
    status: int
    times: int | None  # None: every matching request


class LocalHubServer(HubReadRoutes, HubWriteRoutes):
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
        if repo_type not in REPO_PATH_PREFIX:
            raise ValueError(f"repo_type must be 'model' or 'dataset', not {repo_type!r}")
        new = read_files(files)
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
            committed = {p: HubFile(d, is_lfs(p, attributes, lfs)) for p, d in sorted(tree.items())}
            if head is not None and revision in repo.refs and same_tree(committed, head.files):
                return head.oid
            parent = head.oid if head is not None else None
            title = message or f"Upload {len(new)} file{'s' if len(new) != 1 else ''}"
            oid = hashlib.sha1(
                "\n".join(
                    [f"{repo_type}:{repo_id}", f"parent {parent}", title]
                    + [f"{p} {f.oid}" for p, f in committed.items()]
                ).encode()
            ).hexdigest()
            repo.commits[oid] = HubCommit(oid, committed, title, now(), parent)
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
            except HubError as err:
                self._error(handler, method, err)
            except Exception as exc:  # a bug here: say so in `unexpected` rather than drop the connection
                with self._lock:
                    self.state.unexpected.append(f"{method} {handler.path} -> 500 {exc!r}")
                self._error(handler, method, HubError(500, None, f"local hub error: {exc!r}"))
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
        read_body(handler)  # the client sent its body: read it, so the connection stays usable
        raise HubError(fault.status, None, "Service Unavailable (injected by the test)")

    def _route(self, handler: Any, method: str, path: str, query: dict[str, list[str]]) -> None:
        body = read_body(handler) if method in ("POST", "PUT") else b""
        if method == "POST":
            with self._lock:
                self.state.auth_headers.append(handler.headers.get("Authorization", ""))
        self._check_server_token(handler)
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 4 and parts[1] in API_REPO_TYPES:
            repo_type, repo_id, rest = API_REPO_TYPES[parts[1]], f"{unquote(parts[2])}/{unquote(parts[3])}", parts[4:]
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
                raise HubError(404, None, f"No parquet export for {repo_id}")  # the Hub's converter never ran
        elif method in ("GET", "HEAD") and len(parts) >= 5 and parts[0] == "datasets" and parts[3] == "resolve":
            repo_id, revision, file = f"{unquote(parts[1])}/{unquote(parts[2])}", unquote(parts[4]), parts[5:]
            return self._resolve(handler, method, "dataset", repo_id, revision, unquote("/".join(file)))
        elif method in ("GET", "HEAD") and len(parts) >= 4 and parts[2] == "resolve" and parts[0] != "api":
            repo_id, revision, file = f"{unquote(parts[0])}/{unquote(parts[1])}", unquote(parts[3]), parts[4:]
            return self._resolve(handler, method, "model", repo_id, revision, unquote("/".join(file)))
        elif path == "/api/agent-harnesses":
            # huggingface_hub fetches the AI-agent registry once per process (telemetry, best effort): answered as
            # an unreachable Hub would be, so the client keeps its empty registry and caches nothing.
            raise HubError(404, None, "not served by the local hub")
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
        raise HubError(404, None, f"not implemented in the local hub: {handler.path}")

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
            raise HubError(401, "RepoNotFound", "Invalid username or password.")
        if token != self.require_token:
            raise HubError(401, None, "Invalid credentials in Authorization header")

    def _check_write_token(self, handler: Any) -> None:
        """The Hub's write routes need a token that may write: any bearer token, or one of `user_tokens` if any."""
        token = self._bearer(handler)
        if token is None:
            raise HubError(401, None, "Invalid username or password.")
        if self.user_tokens and token not in self.user_tokens:
            raise HubError(401, None, "Invalid credentials in Authorization header")

    def _repo(self, handler: Any, repo_type: str, repo_id: str) -> HubRepo:
        repo = self.state.hosted.get((repo_type, repo_id))
        if repo is None:
            raise HubError(404, "RepoNotFound", "Repository not found")
        if repo.private or repo.gated:
            token = self._bearer(handler)
            if token is not None and self.user_tokens and token not in self.user_tokens:
                raise HubError(401, None, "Invalid credentials in Authorization header")
            if token is None and repo.gated:
                raise HubError(
                    401,
                    "GatedRepo",
                    f"Access to {repo_type} {repo_id} is restricted. You must have access to it and be authenticated "
                    "to access it. Please log in.",
                )
            if token is None:
                raise HubError(401, "RepoNotFound", "Invalid username or password.")
        return repo

    def _commit(self, handler: Any, repo_type: str, repo_id: str, revision: str) -> tuple[HubRepo, HubCommit]:
        repo = self._repo(handler, repo_type, repo_id)
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
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

    def _error(self, handler: Any, method: str, err: HubError) -> None:
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
                raise HubError(416, None, "Range Not Satisfiable", {"Content-Range": f"bytes */{len(data)}"})
            end = min(end, len(data) - 1)
            status, body = 206, data[start : end + 1]
            extra["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        if method == "GET":
            with self._lock:
                self.state.downloads.append(download)
        self._send(handler, method, status, body, {**headers, **extra}, "application/octet-stream")
