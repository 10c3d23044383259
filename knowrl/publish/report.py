"""What the publish stage shows in the orchestrator: the Hub revision it pushed, or where the bundle is."""

from __future__ import annotations

from knowrl.pipeline.runtime import StageContext
from knowrl.pipeline.spec import StageReport
from knowrl.publish.result import PublishRef


def publish_report(ref: PublishRef, ctx: StageContext) -> StageReport:
    if ref.pushed:
        return StageReport(
            f"# Published\n\n[{ref.repo_id}]({ref.url}), tag `{ref.tag}`\n",
            links={"knowrl-publish": (ref.url or "", f"{ref.repo_id} ({ref.tag})")},
        )
    return StageReport(f"# Publish bundle (not pushed)\n\nThe exact bundle is at `{ref.bundle_path}`.\n")
