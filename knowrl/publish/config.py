"""The publish stage's recipe section: the Hub repository, the regression gate and the token's variable."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field

from knowrl.config.types import StrictModel


class PublishConfig(StrictModel):
    repo_id: str = Field(description="Hub repo to push to, e.g. my-org/knowrl-model")
    private: bool = True
    push: Literal["merged", "adapter"] = "merged"
    dry_run: bool = False
    token_env: str = "HF_TOKEN"
    license: str = "mit"
    tag_prefix: str = "run-"
    # metric -> largest allowed worsening (trained minus base, in the metric's bad direction)
    gate: dict[str, float] = Field(default_factory=dict)
    force: bool = False


def token_presence(cfg: PublishConfig) -> str:
    """Publish's outside input (part of its cache key): whether the token is set, never the token itself. Setting it
    later must re-run a publish that could not push."""
    return "token-set" if os.environ.get(cfg.token_env) else "token-unset"
