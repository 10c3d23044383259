"""Prefect task of the publish stage."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_link_artifact

from knowrl.config.stages import PublishConfig
from knowrl.stages import key_inputs
from storage import Paths
from tasks.common import RETRY_DELAYS, finish, key_fn, make_context, retry_on_io


def _token_presence(config: dict[str, Any]) -> str:
    """Whether the token is set (never the token): setting it later must re-run a stage that could not push."""
    return key_inputs("publish", config, Paths.from_env())


@task(
    name="publish",
    cache_key_fn=key_fn("publish", _token_presence),
    persist_result=True,
    retries=2,
    retry_delay_seconds=RETRY_DELAYS,
    retry_condition_fn=retry_on_io,
)
def publish_stage(config: dict[str, Any], upstream: dict[str, Any], recipe: dict[str, Any]) -> dict[str, Any]:
    # Imported when the stage computes, not when the flow loads: a cached run never imports torch or TRL.
    from knowrl.publish.stage import run_publish_stage

    ctx = make_context("publish")
    ref = run_publish_stage(PublishConfig.model_validate(config), upstream, ctx, recipe)
    if ref["pushed"]:
        create_link_artifact(ref["url"], link_text=f"{ref['repo_id']} ({ref['tag']})", key="knowrl-publish")
        summary = f"# Published\n\n[{ref['repo_id']}]({ref['url']}), tag `{ref['tag']}`\n"
    else:
        summary = f"# Publish bundle (not pushed)\n\nThe exact bundle is at `{ref['bundle_path']}`.\n"
    return finish("publish", ctx, config, upstream, ref, summary, _token_presence(config))
