"""The publish stage's result: the bundle in the artifact store, and the Hub revision when it was pushed."""

from __future__ import annotations

from typing import Literal

from knowrl.pipeline.refs import ArtifactRef


class PublishRef(ArtifactRef):
    stage: Literal["publish"] = "publish"
    bundle_path: str
    repo_id: str
    pushed: bool
    url: str | None
    tag: str
    gate_violations: list[str]
    commit: str | None = None

    def headline(self) -> str:
        return f"pushed {self.url}" if self.pushed else f"bundle (not pushed) at {self.bundle_path}"
