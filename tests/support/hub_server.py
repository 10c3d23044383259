"""A local HTTP server that speaks the Hub API calls the pipeline makes (HF_ENDPOINT points here): create repo,
preupload, commit (NDJSON, regular files), create tag (publish); a dataset's info at a revision (the data stage's
cache key reads its commit sha). It keeps what it received."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class HubState:
    repos: dict[str, dict[str, Any]] = field(default_factory=dict)
    commits: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)
    auth_headers: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    validated: list[Any] = field(default_factory=list)
    dataset_shas: dict[str, str] = field(default_factory=dict)  # "owner/name@revision" -> commit sha
    dataset_info_calls: list[str] = field(default_factory=list)


class LocalHubServer:
    def __init__(self) -> None:
        self.state = HubState()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hub.state.auth_headers.append(self.headers.get("Authorization", ""))
                path = self.path.split("?")[0]
                if path == "/api/validate-yaml":
                    # The client asks the Hub to validate the model card's metadata before committing.
                    import yaml

                    content = json.loads(body)["content"]
                    meta = yaml.safe_load(content.split("---")[1]) if content.startswith("---") else None
                    hub.state.validated.append(meta)
                    errors = [] if isinstance(meta, dict) else [{"message": "no YAML metadata"}]
                    self._json(200 if not errors else 400, {"errors": errors, "warnings": []})
                    return
                if path == "/api/repos/create":
                    request = json.loads(body)
                    repo_id = f"{request.get('organization') or 'user'}/{request['name']}"
                    if repo_id in hub.state.repos:
                        self._json(409, {"error": "You already created this model repo", "url": hub.url(repo_id)})
                        return
                    hub.state.repos[repo_id] = {
                        "visibility": request.get("visibility", "private" if request.get("private") else "public"),
                        "files": {},
                    }
                    self._json(200, {"url": hub.url(repo_id)})
                    return
                parts = path.split("/")  # /api/models/{owner}/{name}/{action}/{revision}
                if len(parts) >= 7 and parts[1:3] == ["api", "models"]:
                    repo_id, action = f"{parts[3]}/{parts[4]}", parts[5]
                    if repo_id not in hub.state.repos:
                        self._json(404, {"error": "Repository not found"})
                        return
                    if action == "preupload":
                        files = json.loads(body)["files"]
                        self._json(
                            200,
                            {
                                "files": [
                                    {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files
                                ]
                            },
                        )
                        return
                    if action == "commit":
                        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
                        files = {
                            ln["value"]["path"]: base64.b64decode(ln["value"]["content"])
                            for ln in lines
                            if ln["key"] == "file"
                        }
                        oid = hashlib.sha1(body).hexdigest()
                        hub.state.repos[repo_id]["files"].update(files)
                        hub.state.commits.append(
                            {"repo_id": repo_id, "oid": oid, "files": files, "header": lines[0]["value"]}
                        )
                        self._json(200, {"commitUrl": f"{hub.url(repo_id)}/commit/{oid}", "commitOid": oid})
                        return
                    if action == "tag":
                        hub.state.tags.append({"repo_id": repo_id, "revision": parts[6], **json.loads(body)})
                        self._json(200, {})
                        return
                hub.state.unexpected.append(f"POST {self.path}")
                self._json(404, {"error": f"not implemented in the local hub: {self.path}"})

            def do_GET(self) -> None:
                parts = self.path.split("?")[0].split("/")  # /api/datasets/{owner}/{name}[/revision/{rev}]
                if parts[1:3] == ["api", "datasets"] and len(parts) in (5, 7):
                    repo_id, revision = "/".join(parts[3:5]), parts[6] if len(parts) == 7 else "main"
                    hub.state.dataset_info_calls.append(f"{repo_id}@{revision}")
                    sha = hub.state.dataset_shas.get(f"{repo_id}@{revision}")
                    if sha is None:
                        self._json(404, {"error": f"Revision Not Found for url: {self.path}"})
                    else:
                        self._json(200, {"id": repo_id, "sha": sha, "private": False, "siblings": []})
                    return
                hub.state.unexpected.append(f"GET {self.path}")
                self._json(404, {"error": "not implemented in the local hub"})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, repo_id: str) -> str:
        return f"{self.endpoint}/{repo_id}"

    def __enter__(self) -> LocalHubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
