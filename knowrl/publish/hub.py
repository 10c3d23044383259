"""Push a bundle folder to the Hub: create the repo if missing, one commit per run, a tag per run.

The token comes from the environment; it is passed to the client and nowhere else (never logged,
never written into the bundle, the card or the warehouse). `HF_ENDPOINT` selects another Hub server.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from knowrl.errors import BackendError

log = logging.getLogger(__name__)
T = TypeVar("T")

# Waits between the tries of one push step on a transient Hub error (connection error, HTTP 5xx or 429).
RETRY_DELAYS_S = (1.0, 2.0)
_sleep = time.sleep  # tests replace it


class PublishError(BackendError, RuntimeError):
    """The push failed; the message names the repo and the step, never the token. `transient` says whether
    the last failure was one a later try can fix (a Hub outage) or not (a bad token, a repo we may not write)."""


def is_transient_hub_error(exc: BaseException) -> bool:
    """Connection errors and HTTP 5xx/429 answers: worth another try. Any other HTTP status is not."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int):
        return status >= 500 or status == 429
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError | NotADirectoryError):
        return False  # a local file of the bundle, not the Hub
    return isinstance(exc, OSError)  # requests/httpx connection errors and timeouts are OSErrors


def _with_retries(step: str, call: Callable[[], T]) -> T:
    for attempt, delay in enumerate((*RETRY_DELAYS_S, None), start=1):
        try:
            return call()
        except Exception as exc:
            if delay is None or not is_transient_hub_error(exc):
                raise
            log.warning(
                "publish: %s failed (try %d, %s); retrying in %.0f s", step, attempt, type(exc).__name__, delay
            )
            _sleep(delay)
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class PushResult:
    repo_id: str
    commit: str
    tag: str
    url: str


def push_folder(
    folder: Path, repo_id: str, token: str, private: bool, tag: str, message: str, leave_out: tuple[str, ...] = ()
) -> PushResult:
    """One commit of `folder`'s files (those named in `leave_out` stay out of the commit), then one tag."""
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=token)
    # One create_commit (not upload_folder, which may split a large folder into several commits): one run,
    # one commit, one tag. The client still uploads large files through LFS/Xet as the Hub asks.
    operations = [
        CommitOperationAdd(path_in_repo=p.relative_to(folder).as_posix(), path_or_fileobj=str(p))
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.relative_to(folder).as_posix() not in leave_out
    ]
    step = "create_repo"
    commit: Any = None
    try:
        _with_retries(step, lambda: api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True))
        step = "create_commit"
        commit = _with_retries(
            step, lambda: api.create_commit(repo_id, operations=operations, commit_message=message, repo_type="model")
        )
        step = "create_tag"
        _with_retries(
            step,
            lambda: api.create_tag(
                repo_id, tag=tag, revision=commit.oid, repo_type="model", tag_message=message, exist_ok=True
            ),
        )
    except Exception as exc:  # the Hub client raises many types; keep the token out of the message
        text = " ".join((str(exc).replace(token, "***") if token else str(exc)).split())
        transient = is_transient_hub_error(exc)
        tries = f" after {len(RETRY_DELAYS_S) + 1} tries" if transient else ""
        fix = (
            "the Hub (or HF_ENDPOINT) is unreachable or failing: retry later"
            if transient
            else "check the token's write access to the repo and the repo id"
        )
        raise PublishError(
            f"pushing to {repo_id} failed at {step}{tries}: {type(exc).__name__}: {text}; {fix}", transient=transient
        ) from None
    return PushResult(repo_id, commit.oid, tag, str(commit.commit_url))
