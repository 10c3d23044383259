"""The live display of `knowrl run`, and what stays out of a normal run's output."""

from __future__ import annotations

import io
import logging
import warnings

from rich.console import Console

from knowrl.pipeline.runtime import ProgressEvent
from knowrl_cli.progress import StageDisplay, _console_handlers, run_display


def _rows(display: StageDisplay) -> dict[str, str]:
    console = Console(record=True, width=140, force_terminal=False)
    console.print(display.progress.make_tasks_table(display.progress.tasks))
    lines = console.export_text().splitlines()
    return {stage: next(line for line in lines if f" {stage} " in line) for stage in display.rows}


def test_rows_show_each_stage_cached_computing_done_or_not_run() -> None:
    display = StageDisplay(Console(width=140))
    display(ProgressEvent("data", "data: checking the cache", state="checking"))
    display(ProgressEvent("knowledge", "knowledge: checking the cache", state="checking"))  # data was a cache hit
    display(ProgressEvent("knowledge", "knowledge: done", 1.0, "completed"))
    display(ProgressEvent("sft", "sft: checking the cache", state="checking"))
    display(ProgressEvent("sft", "sft: computing", 0.0))
    display(ProgressEvent("sft", "sft: step 30/150, loss 0.812", 0.2))
    rows = _rows(display)
    assert "cached" in rows["data"] and "100%" in rows["data"]
    assert "done" in rows["knowledge"]
    assert "step 30/150, loss 0.812" in rows["sft"] and "20%" in rows["sft"]
    assert "waiting" in rows["grpo"]

    display.finish(failed=True)  # the run failed while sft was training
    rows = _rows(display)
    assert "failed" in rows["sft"] and "not run" in rows["grpo"] and "cached" in rows["data"]


def test_a_run_that_ends_on_a_cache_hit_shows_it() -> None:
    display = StageDisplay(Console(width=140))
    display(ProgressEvent("publish", "publish: checking the cache", state="checking"))
    display.finish(failed=False)
    assert "cached" in _rows(display)["publish"]


def test_library_debug_lines_and_deprecation_warnings_stay_out() -> None:
    (handler,) = [h for h in _console_handlers() if h in logging.getLogger().handlers]
    shown = io.StringIO()
    file, handler.console.file = handler.console.file, shown
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with run_display(Console(), live=False, debug=False):
                logging.getLogger("bm25s").setLevel(logging.DEBUG)  # as bm25s does to itself on import
                logging.getLogger("bm25s").debug("Building index from IDs objects")
                logging.getLogger("some.library").info("library chatter")
                logging.getLogger("some.library").warning("a library warning")
                logging.getLogger("knowrl.storage").info("warehouse is locked: waiting")
                warnings.warn_explicit("renamed", FutureWarning, "training_args.py", 1, module="transformers.x")
                warnings.warn_explicit("ours renamed", DeprecationWarning, "stages.py", 1, module="knowrl.config")
            with run_display(Console(), live=False, debug=True):
                logging.getLogger("bm25s").debug("Building index, debugging")
    finally:
        handler.console.file = file
    out = shown.getvalue()
    assert "Building index from IDs" not in out and "library chatter" not in out
    assert "a library warning" in out and "warehouse is locked: waiting" in out  # ours at INFO, theirs from WARNING
    assert [str(w.message) for w in caught] == ["ours renamed"]  # a third party's deprecation is not ours to fix
    assert "Building index, debugging" in out  # knowrl --debug shows everything
