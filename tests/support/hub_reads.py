"""The local Hub server's read routes (repo info, tree and paths-info, commits, refs, file resolution) and its
stand-in CDN, as a mixin of `LocalHubServer` (tests/support/hub_server.py, whose module docstring says what
each route answers)."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.support.hub_state import (
    REPO_PATH_PREFIX,
    HubCommit,
    HubError,
    HubRepo,
    card_data,
    last_commit,
    read_body,
    tree_oid,
    truthy,
)


class HubReadRoutes:
    """Routes that read what the server holds; `LocalHubServer` provides state, checks and responses."""

    def _info(self, handler, method, repo_type, repo_id, revision, query) -> None:
        shown = revision or "main"
        if repo_type == "dataset":
            with self._lock:
                self.state.dataset_info_calls.append(f"{repo_id}@{shown}")
            override = self.state.dataset_shas.get(f"{repo_id}@{shown}")
            if override is not None:
                return self._json(handler, method, {"id": repo_id, "sha": override, "private": False, "siblings": []})
        repo, commit = self._commit(handler, repo_type, repo_id, shown)
        blobs = truthy(query.get("blobs"))
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
        card = card_data(commit.files.get("README.md"))
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
                out.setdefault(folder, {"type": "directory", "oid": tree_oid(commit.files, folder), "size": 0})
                out[folder]["path"] = folder
        if expand:
            for path, entry in out.items():
                last = last_commit(repo, commit, path)
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
        expand = truthy(query.get("expand"))
        entries = self._entries(repo, commit, expand)
        if sub and (sub not in entries or entries[sub]["type"] != "directory"):
            if sub in entries:  # the Hub lists a file path as the file itself
                return self._json(handler, method, [entries[sub]])
            raise HubError(404, "EntryNotFound", f"{sub} does not exist on {revision}", {"X-Repo-Commit": commit.oid})
        prefix = f"{sub}/" if sub else ""
        recursive = truthy(query.get("recursive"))
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
        entries = self._entries(repo, commit, truthy(form.get("expand")))
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
            raise HubError(404, "EntryNotFound", f"{file} does not exist on {revision}", {"X-Repo-Commit": commit.oid})
        headers = {"X-Repo-Commit": commit.oid, "ETag": f'"{f.etag}"'}
        if f.lfs:  # the Hub answers LFS files with a redirect to its CDN, carrying the real file's etag and size
            cdn_path = f"{REPO_PATH_PREFIX[repo_type]}{repo_id}/{f.sha256}"
            location = f"{self.cdn_endpoint}/{cdn_path}?commit={commit.oid}&file={quote(file)}"
            headers.update({"Location": location, "X-Linked-Etag": f'"{f.sha256}"', "X-Linked-Size": str(len(f.data))})
            return self._send(handler, method, 302, b"", headers, "text/plain")
        self._file(handler, method, f.data, headers, f"{REPO_PATH_PREFIX[repo_type]}{repo_id}@{commit.oid}/{file}")

    def _cdn(self, handler: Any, method: str, path: str) -> None:
        if method == "PUT" and path.startswith("/lfs-upload/"):
            # The LFS `basic` transfer's upload: a PUT of the bytes to the storage URL the batch API gave.
            sha256, data = path.rsplit("/", 1)[-1], read_body(handler)
            if hashlib.sha256(data).hexdigest() != sha256:
                raise HubError(400, None, "BadDigest: the body's sha256 is not the object's")
            with self._lock:
                self._uploaded[sha256] = data
            return self._send(handler, method, 200, b"", {"ETag": f'"{hashlib.md5(data).hexdigest()}"'}, "text/plain")
        sha256 = path.rstrip("/").rsplit("/", 1)[-1]
        data = self._blobs.get(sha256)
        if method not in ("GET", "HEAD") or data is None:
            raise HubError(404, None, "NoSuchKey")
        query = parse_qs(urlsplit(handler.path).query)
        repo_path = unquote(path.strip("/").rsplit("/", 1)[0])
        download = f"{repo_path}@{query.get('commit', ['?'])[-1]}/{query.get('file', ['?'])[-1]}"
        self._file(handler, method, data, {"ETag": f'"{sha256}"'}, download)
