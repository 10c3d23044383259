"""What `knowrl run` and `knowrl demo` show while they run: a live display with one row per stage (its state,
its last message, its progress: every training step), and the Prefect log at INFO scrolling above it.

The stages report through their StageContext progress callback (knowrl.pipeline.runtime); this module listens in
the same process. Third-party noise stays out of a normal run: library DEBUG/INFO lines (bm25s sets its own logger to
DEBUG) and third-party deprecation warnings (`knowrl --debug` keeps them); knowrl_cli.main turns off the progress
bars of transformers, datasets and the Hub ("Loading weights").
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from collections.abc import Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn

from knowrl.errors import KnowrlError, disk_full_message
from knowrl.pipeline.runtime import ProgressEvent, listen_progress
from knowrl.registry import REGISTRY

# Our loggers: their INFO lines are the run's log. Any other library logs only warnings and errors, as Python's
# and Prefect's defaults intend (a library that sets its own logger to DEBUG does not change that).
OWN_LOGGERS = ("prefect", "knowrl", "uvicorn", "fastapi")
_ICONS = {
    "checking": "[cyan]?[/cyan]",
    "running": "[cyan]>[/cyan]",
    "cached": "[blue]=[/blue]",
    "completed": "[green]✓[/green]",
    "failed": "[red]✗[/red]",
}


class _OwnOrWarning(logging.Filter):
    """Passes our own loggers' records, and other libraries' warnings and errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name.split(".", 1)[0] in OWN_LOGGERS


def reported_in_one_line(exc: BaseException) -> bool:
    """Whether `knowrl` reports this error as one line when the run ends (knowrl_cli.main): the pipeline's own
    errors, the storage layer's, and a full disk. Anything else keeps its traceback: that is the useful report."""
    from storage import StorageConfigError, WarehouseError

    if isinstance(exc, KnowrlError | WarehouseError | StorageConfigError):
        return True
    return isinstance(exc, OSError) and disk_full_message(exc) is not None


class _NoTracebackOfReportedErrors(logging.Filter):
    """Drops the traceback from log lines about an error the CLI reports in one line anyway: Prefect logs a failed
    flow run's exception with its traceback (60-90 lines of engine frames before our message); `--debug` keeps it.
    The log line itself stays (it names the flow run), and Prefect's API handler, which runs first, still sends
    the traceback to the server for the UI."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and reported_in_one_line(exc):
            record.exc_info = None
            record.exc_text = None
        return True


def _console_handlers() -> list[logging.Handler]:
    """Prefect's console handlers (root and its own loggers), configured when prefect is imported."""
    from prefect.logging.configuration import ensure_logging_setup
    from prefect.logging.handlers import PrefectConsoleHandler

    ensure_logging_setup()  # `import prefect` alone is lazy: its logging may not be configured yet

    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in ("prefect", "uvicorn", "fastapi"))]
    return list({id(h): h for lg in loggers for h in lg.handlers if isinstance(h, PrefectConsoleHandler)}.values())


class StageDisplay:
    """One row per stage, updated from ProgressEvents (from any thread), drawn by rich.progress.

    A stage whose task looked its cache up (`checking`) and never started computing was a cache hit: that is known
    when the next stage starts, or when the run ends.
    """

    def __init__(self, console: Console, stages: tuple[str, ...] = REGISTRY.names) -> None:
        self.progress = Progress(
            TextColumn("{task.fields[icon]}"),
            TextColumn("[bold]{task.fields[stage]:<9}[/bold]"),
            BarColumn(bar_width=20),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=console,
            refresh_per_second=4,
        )
        self.rows: dict[str, TaskID] = {
            stage: self.progress.add_task("waiting", total=1.0, start=False, stage=stage, icon=" ") for stage in stages
        }
        self.states: dict[str, str] = {}

    def _set(self, stage: str, state: str, message: str, fraction: float | None = None) -> None:
        row = self.rows[stage]
        if not self.progress.tasks[row].started:
            self.progress.start_task(row)
        self.states[stage] = state
        update: dict = {"description": escape(message.removeprefix(f"{stage}: ")), "icon": _ICONS[state]}
        if fraction is not None:
            update["completed"] = fraction
        self.progress.update(row, **update)
        if state in ("cached", "completed", "failed"):
            self.progress.stop_task(row)

    def _settle_cache_hits(self) -> None:
        for stage, state in list(self.states.items()):
            if state == "checking":
                self._set(stage, "cached", "cached: the last run's result is reused", 1.0)

    def __call__(self, event: ProgressEvent) -> None:
        if event.stage not in self.rows:
            return
        if event.state == "checking":
            self._settle_cache_hits()  # the stage before this one returned without computing
        self._set(event.stage, event.state, event.message, event.fraction)

    def finish(self, failed: bool) -> None:
        """The run ended: settle the last cache hit, or mark the stage that was going on as failed; stages that
        never started were not selected (or the run stopped before them)."""
        for stage, state in list(self.states.items()):
            if failed and state in ("checking", "running"):
                self._set(stage, "failed", "failed (the error is below)")
        self._settle_cache_hits()
        for row in self.rows.values():
            if not self.progress.tasks[row].started:
                self.progress.update(row, description="[dim]not run[/dim]", icon="-")


@contextlib.contextmanager
def run_display(console: Console, *, live: bool, debug: bool) -> Iterator[StageDisplay | None]:
    """While a run goes on: third-party log lines and deprecation warnings filtered out (unless `debug`), our own
    INFO lines shown, and, when `live`, the stage display pinned below the scrolling log."""
    with warnings.catch_warnings():
        if not debug:
            for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
                # By the module that triggered it: ours still show (they are ours to fix).
                warnings.filterwarnings("ignore", category=category, module=r"^(?!knowrl|storage|tasks|flows)")
        handlers = _console_handlers()
        own_filter = _OwnOrWarning()
        no_traceback = _NoTracebackOfReportedErrors()
        knowrl_logger = logging.getLogger("knowrl")
        knowrl_level = knowrl_logger.level
        if not debug:
            for handler in handlers:
                handler.addFilter(own_filter)
                handler.addFilter(no_traceback)
        if knowrl_level == logging.NOTSET or knowrl_level > logging.INFO:
            knowrl_logger.setLevel(logging.INFO)  # storage waits, thread sizing: part of the run's log
        try:
            if not live:
                yield None
                return
            display = StageDisplay(console)
            files = [(h, h.console.file) for h in handlers]
            with display.progress, listen_progress(display):
                # rich redirects sys.stderr above the live rows; Prefect's handlers hold the stream they were given
                # at import, so they are pointed at the redirected one while the display runs.
                for handler, _ in files:
                    handler.console.file = sys.stderr
                failed = True
                try:
                    yield display
                    failed = False
                finally:
                    for handler, file in files:
                        handler.console.file = file
                    display.finish(failed)
        finally:
            for handler in handlers:
                handler.removeFilter(own_filter)
                handler.removeFilter(no_traceback)
            knowrl_logger.setLevel(knowrl_level)
