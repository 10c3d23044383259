"""The local Hub server's publish routes (create repo, validate YAML, preupload, commit, LFS batch and verify),
as a mixin of `LocalHubServer` (tests/support/hub_server.py, whose module docstring says what each route
answers)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from tests.support.hub_state import (
    HUB_DEFAULT_GITATTRIBUTES,
    LFS_SIZE_THRESHOLD,
    REPO_PATH_PREFIX,
    HubCommit,
    HubError,
    HubFile,
    HubRepo,
    is_lfs,
    now,
)


class HubWriteRoutes:
    """Routes that publish to the server; `LocalHubServer` provides state, checks and responses."""

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
            if (
                repo_type in REPO_PATH_PREFIX and (repo_type, repo_id) not in self.state.hosted
            ):  # the Hub's first commit
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
            raise HubError(404, "RepoNotFound", "Repository not found")
        if action == "preupload":
            attributes, answers = self._gitattributes(repo_id, revision), []
            for f in json.loads(body)["files"]:
                lfs = f["size"] >= LFS_SIZE_THRESHOLD or is_lfs(f["path"], attributes, None)
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
                raise HubError(
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
            raise HubError(404, "RepoNotFound", "Repository not found")
        request = json.loads(body)
        if request.get("operation") != "upload" or "basic" not in request.get("transfers", ["basic"]):
            raise HubError(400, None, f"only the basic upload transfer is served here: {request!r}")
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
                raise HubError(404, None, f"LFS object {request['oid']} was not uploaded (or not whole)")
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
        committed = {p: HubFile(d, is_lfs(p, attributes, None)) for p, d in sorted(tree.items())}
        title = header.get("summary") or "Upload folder"
        repo.commits[oid] = HubCommit(oid, committed, title, now(), head.oid if head is not None else None)
        repo.refs[revision] = oid
        for f in committed.values():
            if f.lfs:
                self._blobs[f.sha256] = f.data
