"""What every stage task shares: cache keys, the retry policy, progress reporting, the run record."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from prefect import Task, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, update_progress_artifact
from prefect.context import TaskRunContext
from prefect.tasks import exponential_backoff
from prefect.transactions import get_transaction
from pydantic import BaseModel

from knowrl.config.recipe import hash_config
from knowrl.errors import is_transient
from knowrl.pipeline.refs import StageRef
from knowrl.pipeline.runtime import ProgressEvent, StageContext, notify_progress, stage_progress
from knowrl.pipeline.stages import cache_key, key_inputs
from storage import Paths, prefect_result_location
from storage.stage_runs import StageRuns

RETRY_DELAYS = exponential_backoff(backoff_factor=5)
R = TypeVar("R")
Ref = TypeVar("Ref", bound=StageRef)


def retry_on_io(task: Any, task_run: Any, state: Any) -> bool:
    """Retry transient failures only (knowrl.errors.is_transient): a Hub or endpoint outage, a busy warehouse.
    A bad recipe, a bad input, a full disk or a bug fails at once instead of three times."""
    try:
        state.result()
    except Exception as exc:  # the state already carries it for the UI; here we only decide on a retry
        return is_transient(exc)
    return False


def result_storage() -> Any:
    """Where Prefect keeps task results and cache records: every worker must read them for a cache hit on one
    worker to be a hit on all. A local folder in the local profile; a saved fsspec block over
    `<KNOWRL_ARTIFACTS_URL>/prefect-results` in the remote one (s3fs reads the AWS variables itself)."""
    location = prefect_result_location(Paths.from_env().ensure())
    if "://" not in location:
        return Path(location)  # a Path is accepted as local result storage, server or not
    from prefect.filesystems import RemoteFileSystem

    block = RemoteFileSystem(basepath=location)
    block.save("knowrl-results", overwrite=True)  # Prefect refuses an unsaved block as result storage
    return block


def key_fn(stage: str) -> Callable[..., str]:
    """The stage's cache key (knowrl.pipeline.stages.cache_key): config, upstream fingerprints, code version and the
    stage's outside inputs (data sources as they are now, publish's token presence), computed once per task run:
    `finish` reads it back from the run's transaction instead of probing the sources again."""

    def compute(context: TaskRunContext, params: dict[str, Any]) -> str:
        # The task run starts here: Prefect looks the key up, then runs the body (make_context) or reuses a result.
        notify_progress(ProgressEvent(stage, f"{stage}: checking the cache", None, "checking"))
        config = params["config"].model_dump(mode="json")  # the validated stage config, hashed in its JSON form
        return cache_key(stage, config, params["upstream"], key_inputs(stage, config))

    return compute


def stage_task(stage: str, *, retries: int, gpu: bool = False) -> Callable[[Callable[..., R]], Task[..., R]]:
    """The Prefect task of a stage: cached by `key_fn(stage)`, its result persisted where every worker reads it,
    retried with backoff on transient failures only; `gpu` tags it for the `gpu` concurrency limit."""
    return task(
        name=stage,
        cache_key_fn=key_fn(stage),
        persist_result=True,
        retries=retries,
        retry_delay_seconds=RETRY_DELAYS,
        retry_condition_fn=retry_on_io,
        tags=["gpu"] if gpu else None,
    )


def make_context(stage: str) -> StageContext:
    """A StageContext whose progress goes to the run's log (training steps at most every 10 s), to the progress
    listeners of this process (the CLI's live display: every step) and to a Prefect progress artifact."""
    logger = get_run_logger()
    artifact_id = create_progress_artifact(0.0, description=f"{stage} progress")
    notify_progress(ProgressEvent(stage, f"{stage}: computing", 0.0))
    to_log = stage_progress(stage, logger.info)
    last_update = [0.0]

    def progress(message: str, fraction: float | None) -> None:
        to_log(message, fraction)
        # One API call per training step would slow a fast run down: the artifact moves every 2 s and at the end.
        if fraction is not None and (fraction >= 1.0 or time.monotonic() - last_update[0] >= 2.0):
            last_update[0] = time.monotonic()
            update_progress_artifact(artifact_id, min(100.0, max(0.0, fraction * 100)))

    return StageContext.from_env(progress=progress)


def finish(
    stage: str,
    ctx: StageContext,
    stage_config: BaseModel,
    upstream: dict[str, Any],
    ref: Ref,
    summary_md: str,
) -> Ref:
    """Record the completed run under the task run's cache key and publish the stage's summary as an artifact.
    The run record keeps the ref's JSON; the task returns the typed ref (Prefect persists it, pickled)."""
    transaction = get_transaction()
    key = transaction.key if transaction is not None and transaction.key else None
    config = stage_config.model_dump(mode="json")
    if key is None:  # called outside a cached task run (tests): compute it as key_fn would
        key = cache_key(stage, config, upstream, key_inputs(stage, config))
    StageRuns(ctx.warehouse).record(stage, key, hash_config(config), ref.model_dump(mode="json"))
    create_markdown_artifact(markdown=summary_md, key=f"knowrl-{stage}", description=f"{stage} stage summary")
    notify_progress(ProgressEvent(stage, f"{stage}: done", 1.0, "completed"))
    return ref


def md_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "_none_"
    headers = list(rows[0])
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(r.get(h, "")) for h in headers) + " |" for r in rows]
    return "\n".join(lines)
