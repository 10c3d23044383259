"""What the two training tasks share: failure injection for drills, curves as Prefect artifacts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prefect.artifacts import create_table_artifact

from knowrl.pipeline.runtime import StageContext
from storage.training_logs import TrainingLogs


class InjectedFailure(RuntimeError):
    """Raised once by a stage named in KNOWRL_INJECT_FAILURE, for failure-and-rerun drills and tests."""


def maybe_inject_failure(stage: str, ctx: StageContext) -> list[Any]:
    """Failure drills, chosen by `KNOWRL_INJECT_FAILURE` (comma-separated):

    - `grpo`: the stage fails at its start, once (a marker under KNOWRL_HOME remembers);
    - `grpo@checkpoint`: a training run that starts from scratch fails right after its first checkpoint is saved
      (and mirrored, in the remote profile). A rerun resumes from that checkpoint and is not failed again, even on
      another worker with an empty KNOWRL_HOME: it is a resumed run.

    Returns the trainer callbacks the drill needs (none for the first form).
    """
    drills = (os.environ.get("KNOWRL_INJECT_FAILURE") or "").split(",")
    if f"{stage}@checkpoint" in drills:
        return [_fail_after_first_checkpoint(stage)]
    if stage not in drills:
        return []
    marker = Path(ctx.paths.root) / f".injected-failure-{stage}"
    if not marker.exists():
        marker.write_text("failed once")
        raise InjectedFailure(f"injected failure in stage {stage} (KNOWRL_INJECT_FAILURE); re-run to continue")
    return []


def _fail_after_first_checkpoint(stage: str) -> Any:
    """A trainer callback raising after the first save of a run that did not resume. It comes after the checkpoint
    callbacks in the trainer's list, so the checkpoint is complete (and mirrored) when it raises."""
    from transformers import TrainerCallback  # only when the drill is on: a cached run never imports transformers

    class FailAfterFirstCheckpoint(TrainerCallback):
        resumed = False

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.resumed = state.global_step > 0  # the trainer loads a resumed run's state before this event

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if not self.resumed:
                raise InjectedFailure(
                    f"injected failure in stage {stage} after checkpoint-{state.global_step} "
                    "(KNOWRL_INJECT_FAILURE); re-run to resume from it"
                )

    return FailAfterFirstCheckpoint()


def publish_curve(stage: str, ctx: StageContext, run_key: str, metrics: list[str]) -> None:
    logs = TrainingLogs(ctx.warehouse)
    series = {m: dict(logs.series(run_key, m)) for m in metrics}
    steps = sorted({s for values in series.values() for s in values})
    rows = [{"step": s, **{m: round(series[m].get(s, float("nan")), 4) for m in metrics}} for s in steps]
    if rows:
        create_table_artifact(rows, key=f"knowrl-{stage}-curve", description=f"{stage} training curve")
