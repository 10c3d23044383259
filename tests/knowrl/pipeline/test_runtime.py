"""Progress reports: every one reaches the listeners (the live display), the log gets a readable trace."""

from __future__ import annotations

import pytest

import knowrl.pipeline.runtime
from knowrl.pipeline.runtime import ProgressEvent, listen_progress, stage_progress


def test_listeners_get_every_report_and_the_log_a_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(knowrl.pipeline.runtime.time, "monotonic", lambda: clock[0])
    seen: list[ProgressEvent] = []
    logged: list[str] = []
    progress = stage_progress("sft", logged.append, every_s=10.0)

    with listen_progress(seen.append):
        progress("sft: 52 conversations", 0.0)
        for step in range(1, 11):  # ten training steps, one second apart
            progress(f"sft: step {step}/10, loss {1 / step:.3f}", step / 10)
            clock[0] += 1.0
        progress("sft: writing the model", 0.95)  # another kind of message: logged at once
        progress("sft: done", None)
    progress("sft: after the display closed", None)

    assert [e.message for e in seen][:3] == [
        "sft: 52 conversations",
        "sft: step 1/10, loss 1.000",
        "sft: step 2/10, loss 0.500",
    ]
    assert len(seen) == 13 and all(e.stage == "sft" and e.state == "running" for e in seen)
    # Steps: the first, then one per 10 s of the clock; the last step (fraction 1) always.
    assert logged == [
        "sft: 52 conversations",
        "sft: step 1/10, loss 1.000 (10%)",
        "sft: step 10/10, loss 0.100",
        "sft: writing the model (95%)",
        "sft: done",
        "sft: after the display closed",
    ]


def test_a_failing_listener_never_fails_the_stage() -> None:
    def broken(event: ProgressEvent) -> None:
        raise RuntimeError("display gone")

    logged: list[str] = []
    with listen_progress(broken):
        stage_progress("data", logged.append)("data: reading", 0.0)
    assert logged == ["data: reading"]
