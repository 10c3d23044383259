"""Push a bundle folder to the Hub: create the repo if missing, one commit per run, a tag per run.

The token comes from the environment; it is passed to the client and nowhere else (never logged,
never written into the bundle, the card or the warehouse). `HF_ENDPOINT` selects another Hub server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


class PublishError(RuntimeError):
    """The push failed; the message names the repo and the step, never the token."""


@dataclass(frozen=True)
class PushResult:
    repo_id: str
    commit: str
    tag: str
    url: str


def push_folder(folder: Path, repo_id: str, token: str, private: bool, tag: str, message: str) -> PushResult:
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=token)
    # One create_commit (not upload_folder, which may split a large folder into several commits): one run,
    # one commit, one tag. The client still uploads large files through LFS/Xet as the Hub asks.
    operations = [
        CommitOperationAdd(path_in_repo=p.relative_to(folder).as_posix(), path_or_fileobj=str(p))
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    ]
    step = "create_repo"
    try:
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        step = "create_commit"
        commit = api.create_commit(repo_id, operations=operations, commit_message=message, repo_type="model")
        step = "create_tag"
        api.create_tag(repo_id, tag=tag, revision=commit.oid, repo_type="model", tag_message=message, exist_ok=True)
    except Exception as exc:  # the Hub client raises many types; keep the token out of the message
        text = str(exc).replace(token, "***") if token else str(exc)
        raise PublishError(f"pushing to {repo_id} failed at {step}: {type(exc).__name__}: {text}") from None
    return PushResult(repo_id, commit.oid, tag, str(commit.commit_url))
