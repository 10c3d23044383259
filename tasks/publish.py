"""Prefect task of the publish stage."""

from __future__ import annotations

from typing import Any

from prefect.artifacts import create_link_artifact

from knowrl.config.stages import PublishConfig
from knowrl.pipeline.refs import PublishRef, refs_from_dicts
from tasks.common import finish, make_context, stage_task


# Its cache key holds whether the token is set (never the token): setting it later re-runs a publish that could
# not push (knowrl.pipeline.stages.key_inputs).
@stage_task("publish", retries=2)
def publish_stage(config: PublishConfig, upstream: dict[str, Any], recipe: dict[str, Any]) -> PublishRef:
    # Imported when the stage computes, not when the flow loads: a cached run never imports torch or TRL.
    from knowrl.publish.stage import run_publish_stage

    ctx = make_context("publish")
    ref = run_publish_stage(config, refs_from_dicts(upstream), ctx, recipe)
    if ref.pushed:
        create_link_artifact(ref.url or "", link_text=f"{ref.repo_id} ({ref.tag})", key="knowrl-publish")
        summary = f"# Published\n\n[{ref.repo_id}]({ref.url}), tag `{ref.tag}`\n"
    else:
        summary = f"# Publish bundle (not pushed)\n\nThe exact bundle is at `{ref.bundle_path}`.\n"
    return finish("publish", ctx, config, upstream, ref, summary)
