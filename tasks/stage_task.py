"""The one Prefect task of every stage, made from its spec: cache key, retries on transient failures, the stage's
progress and report as Prefect artifacts, the run record. The work is in knowrl/."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prefect import Task, get_run_logger, task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.context import TaskRunContext
from prefect.tasks import exponential_backoff
from prefect.transactions import get_transaction
from pydantic import BaseModel

from knowrl.errors import KnowrlError, is_transient
from knowrl.hashing import stable_hash
from knowrl.pipeline.keys import stage_key
from knowrl.pipeline.refs import StageRef
from knowrl.pipeline.runtime import ProgressEvent, StageContext, notify_progress, stage_progress
from knowrl.pipeline.spec import StageReport, StageSpec
from storage import Paths, StorageProfile, prefect_result_location
from storage.stage_runs import StageRuns
from tasks.slots import GPU_TAG, concurrency_slot

RETRY_DELAYS = exponential_backoff(backoff_factor=5)


def retry_on_io(task: Any, task_run: Any, state: Any) -> bool:
    """Retry transient failures only (knowrl.errors.is_transient): a Hub or endpoint outage, a busy warehouse.
    A bad recipe, a bad input, a full disk or a bug fails at once instead of three times."""
    try:
        state.result()
    except Exception as exc:  # the state already carries it for the UI; here we only decide on a retry
        return is_transient(exc)
    return False


# The object store's clients (botocore, under s3fs and boto3) when the store does not answer after their own
# retries; none is a builtin ConnectionError, and naming them keeps those imports out of here.
_STORE_UNREACHABLE = {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError"}


def _store_unreachable(exc: BaseException) -> BaseException | None:
    """The client's "did not answer" in `exc` or what it was raised from, if any."""
    seen: BaseException | None = exc
    for _ in range(10):  # a chain of causes, never a loop
        if seen is None:
            return None
        if type(seen).__module__.split(".")[0] in ("botocore", "aiobotocore") and type(seen).__name__ in (
            _STORE_UNREACHABLE
        ):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


@contextlib.contextmanager
def object_store_answers() -> Iterator[None]:
    """A stage failed by an object store that did not answer becomes one line naming the store (its bucket) and the
    endpoint, instead of the client's path-style URL. What was being written stays invisible (a tree's commit
    marker is written last), so a rerun once the store is back resumes; retried as the client's error would be."""
    try:
        yield
    except KnowrlError:
        raise
    except Exception as exc:
        culprit = _store_unreachable(exc)
        if culprit is None:
            raise
        profile = StorageProfile.from_env()
        endpoint = profile.s3.endpoint_url or "the provider's"
        raise KnowrlError(
            f"the object store {profile.artifacts_url or 'of this worker'} (endpoint {endpoint}) did not answer "
            f"({type(culprit).__name__}, after the client's retries): nothing half-written is visible; rerun once it "
            "answers (a training stage resumes from its newest mirrored checkpoint)",
            transient=is_transient(exc),
        ) from exc


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


def _key_fn(spec: StageSpec) -> Any:
    """The stage's cache key (knowrl.pipeline.keys), computed once per task run: `_record` reads it back from the
    run's transaction instead of probing the stage's outside inputs (a Hub commit, file hashes) again."""

    def compute(context: TaskRunContext, params: dict[str, Any]) -> str:
        # The task run starts here: Prefect looks the key up, then runs the body or reuses a result.
        notify_progress(ProgressEvent(spec.name, f"{spec.name}: checking the cache", None, "checking"))
        return stage_key(spec, params["config"], params["upstream"])

    return compute


def _context(spec: StageSpec, recipe: dict[str, Any] | None) -> StageContext:
    """A StageContext whose progress goes to the run's log (training steps at most every 10 s), to the progress
    listeners of this process (the CLI's live display: every step) and to a Prefect progress artifact."""
    logger = get_run_logger()
    artifact_id = create_progress_artifact(0.0, description=f"{spec.name} progress")
    notify_progress(ProgressEvent(spec.name, f"{spec.name}: computing", 0.0))
    to_log = stage_progress(spec.name, logger.info)
    last_update = [0.0]

    def progress(message: str, fraction: float | None) -> None:
        to_log(message, fraction)
        # One API call per training step would slow a fast run down: the artifact moves every 2 s and at the end.
        if fraction is not None and (fraction >= 1.0 or time.monotonic() - last_update[0] >= 2.0):
            last_update[0] = time.monotonic()
            update_progress_artifact(artifact_id, min(100.0, max(0.0, fraction * 100)))

    return StageContext.from_env(progress=progress, recipe=recipe)


def publish_report(spec: StageSpec, report: StageReport) -> None:
    create_markdown_artifact(markdown=report.markdown, key=f"knowrl-{spec.name}", description=f"{spec.name} summary")
    for key, rows in report.tables.items():
        create_table_artifact(rows, key=key, description=f"{spec.name}: {key.removeprefix('knowrl-')}")
    for key, (url, text) in report.links.items():
        create_link_artifact(url, link_text=text, key=key)


def record_run(
    spec: StageSpec, ctx: StageContext, config: BaseModel, upstream: dict[str, StageRef], ref: StageRef
) -> None:
    """Record the completed run under the task run's cache key (what `knowrl status` and stage selection read)."""
    transaction = get_transaction()
    key = transaction.key if transaction is not None and transaction.key else None
    if key is None:  # called outside a cached task run (tests): compute it as the key function would
        key = stage_key(spec, config, upstream)
    StageRuns(ctx.warehouse).record(
        spec.name, key, stable_hash(config.model_dump(mode="json")), ref.model_dump(mode="json")
    )


def gpu_slot(spec: StageSpec) -> contextlib.AbstractContextManager[None]:
    """A slot of the `gpu` concurrency limit for a gpu stage's body, held by its task run and waited for out loud
    (tasks/slots.py: why not a task tag); nothing for the other stages."""
    if not spec.gpu:
        return contextlib.nullcontext()
    logger = get_run_logger()
    context = TaskRunContext.get()
    holder = context.task_run.id if context is not None else None
    return concurrency_slot(GPU_TAG, info=logger.info, warn=logger.warning, holder=holder)


def stage_task(spec: StageSpec) -> Task[..., StageRef]:
    """The Prefect task of a stage: cached by its key, its result persisted where every worker reads it, retried
    with backoff on transient failures only; a `gpu` stage computes holding a slot of the `gpu` concurrency limit."""

    def run_stage(config: BaseModel, upstream: dict[str, StageRef], recipe: dict[str, Any] | None = None) -> StageRef:
        with gpu_slot(spec), object_store_answers():
            ctx = _context(spec, recipe if spec.needs_recipe else None)
            try:
                ref = spec.call("run", config, upstream, ctx)
            except Exception as exc:
                # A stage that stops on purpose (GRPO over a health limit) fails with its report: publish it.
                if isinstance(getattr(exc, "report", None), StageReport):
                    publish_report(spec, exc.report)
                raise
            publish_report(spec, spec.call("report", ref, ctx))
            record_run(spec, ctx, config, upstream, ref)
        notify_progress(ProgressEvent(spec.name, f"{spec.name}: done", 1.0, "completed"))
        return ref

    run_stage.__name__ = run_stage.__qualname__ = f"{spec.name}_stage"
    return task(
        run_stage,
        name=spec.name,
        cache_key_fn=_key_fn(spec),
        persist_result=True,
        retries=spec.retries,
        retry_delay_seconds=RETRY_DELAYS,
        retry_condition_fn=retry_on_io,
        description=spec.description,
    )
