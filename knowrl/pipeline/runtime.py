"""What every stage receives: where to read and write, and how to report progress.

Tasks build one `StageContext` and pass it to the library; the library never looks up globals. Progress is a
callback `(message, fraction)`: the library reports what it does (and, while training, every step); the task
turns that into log lines (`stage_progress`) and hands every report to the progress listeners of this process
(`listen_progress`), which is how `knowrl run` draws its live display.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from storage import ArtifactStore, CheckpointMirror, Paths, Warehouse, open_artifacts, open_checkpoints, open_warehouse

Progress = Callable[[str, float | None], None]

log = logging.getLogger("knowrl")
_NUMBERS = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class ProgressEvent:
    """One report of a stage: its task looks up its cache (`checking`; a cache hit reports nothing more), it
    computes (`running`, with the library's messages and fractions), or it has recorded its result (`completed`)."""

    stage: str
    message: str
    fraction: float | None = None
    state: Literal["checking", "running", "completed"] = "running"


ProgressListener = Callable[[ProgressEvent], None]
_listeners: list[ProgressListener] = []
_listeners_lock = threading.Lock()


@contextlib.contextmanager
def listen_progress(listener: ProgressListener) -> Iterator[None]:
    """Send every stage's progress in this process to `listener` while the block runs (the CLI's live display).
    A stage that runs in another process (a Prefect worker) reports to its own process's listeners."""
    with _listeners_lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _listeners_lock:
            _listeners.remove(listener)


def notify_progress(event: ProgressEvent) -> None:
    """Hand `event` to the listeners; a failing listener (a display) never fails the stage."""
    with _listeners_lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(event)
        except Exception:  # the display is a convenience; the stage's work and its log matter
            log.debug("progress listener %r failed", listener, exc_info=True)


def stage_progress(stage: str | None, emit: Callable[[str], None], every_s: float = 10.0) -> Progress:
    """The progress callback of a stage: every report goes to the listeners (unless `stage` is None); `emit` (a
    log) gets each message, except that a report part-way through (0 < fraction < 1) like the one before it but
    for its numbers (training steps: "sft: step 41/150, loss 0.9") is emitted at most once per `every_s` seconds:
    the log keeps a readable trace, the live display shows every step."""
    last = {"kind": "", "at": float("-inf")}
    lock = threading.Lock()

    def progress(message: str, fraction: float | None) -> None:
        if stage is not None:
            notify_progress(ProgressEvent(stage, message, fraction))
        partway = fraction is not None and 0.0 < fraction < 1.0
        if partway:
            kind, now = _NUMBERS.sub("#", message), time.monotonic()
            with lock:
                if kind == last["kind"] and now - last["at"] < every_s:
                    return
                last.update(kind=kind, at=now)
        emit(message + (f" ({fraction:.0%})" if partway else ""))

    return progress


def _log_progress() -> Progress:
    return stage_progress(None, log.info)


@dataclass
class StageContext:
    paths: Paths
    warehouse: Warehouse = field(init=False)
    artifacts: ArtifactStore = field(init=False)
    checkpoints: CheckpointMirror = field(init=False)
    progress: Progress = field(default_factory=_log_progress)
    recipe: dict[str, Any] | None = None  # the run's whole recipe, for a stage whose spec `needs_recipe`

    def __post_init__(self) -> None:
        # The storage profile (local, or object storage + DuckLake) comes from the environment: storage/profile.py.
        self.paths.ensure()
        self.warehouse = open_warehouse(self.paths)
        self.artifacts = open_artifacts(self.paths)
        self.checkpoints = open_checkpoints(self.paths)

    @classmethod
    def from_env(cls, progress: Progress | None = None, recipe: dict[str, Any] | None = None) -> StageContext:
        return cls(Paths.from_env(), progress=progress or _log_progress(), recipe=recipe)
