"""A health limit trips in a real GRPO run on the tiny model: training stops early with the one-line reason, the last
checkpoint before the trip is kept, the run is marked in the warehouse, and the stage fails (on_trip: fail) or
completes with the stopped model, which publish refuses (on_trip: warn); relaxed, the run resumes and completes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from knowrl.pipeline.spec import StageReport
from knowrl.publish.config import PublishConfig
from knowrl.publish.gate import GateRefused
from knowrl.publish.stage import run_publish_stage
from knowrl.train.checkpoints import last_complete_checkpoint
from knowrl.train.grpo import run_grpo_stage
from knowrl.train.health import TrainingStoppedError
from knowrl.train.report import grpo_report
from knowrl.train.sft import run_sft_stage
from storage.training_logs import TrainingLogs
from storage.training_runs import TrainingRuns
from tests.knowrl.train.test_training import grpo_cfg, sft_cfg

# Every completion of the tiny model is longer than 2 tokens: the limit is crossed at every step and trips at the
# second (steps: 2), after the checkpoint of step 1.
TRIPS = {"completion_length": {"above": 2, "steps": 2}}


def test_a_tripped_limit_stops_grpo_keeps_the_checkpoint_and_marks_the_run(
    ctx, demo_data_ref, demo_knowledge_ref, tiny_model_dir
) -> None:
    sft = run_sft_stage(sft_cfg(tiny_model_dir, max_steps=2, sample_prompts=0), {"data": demo_data_ref}, ctx, "test")
    refs = {"data": demo_data_ref, "knowledge": demo_knowledge_ref, "sft": sft}
    cfg = grpo_cfg(max_steps=4, save_steps=1, health=TRIPS)

    with pytest.raises(TrainingStoppedError) as stopped:
        run_grpo_stage(cfg, refs, ctx, "test")
    message = str(stopped.value)
    assert (
        message.startswith("grpo stopped at step 2 by grpo.health: completion_length")
        and "above 2 for 2 logged steps (steps 1-2)" in message
    )
    assert "\n" not in message
    (run_dir,) = [d for d in ctx.paths.runs.iterdir() if d.name.startswith("grpo-")]
    assert last_complete_checkpoint(run_dir).name == "checkpoint-1"  # the step that tripped was not saved
    assert not (run_dir / "checkpoint-2").exists() and not (run_dir / "final-adapter").exists()
    run_key = run_dir.name
    assert [s for s, _ in TrainingLogs(ctx.warehouse).series(run_key, "loss")] == [1, 2]  # of max_steps 4
    mark = TrainingRuns(ctx.warehouse).get(run_key)
    assert mark["status"] == "stopped" and mark["step"] == 2
    assert mark["reason"] == message.split("; ")[0]
    assert mark["checkpoint"] == str(run_dir / "checkpoint-1")
    # The monitors reached the warehouse, and the failure carries the report the orchestrator publishes.
    logs = TrainingLogs(ctx.warehouse)
    for metric in ("knowrl/abstention_rate", "knowrl/reward_failure_rate", "completions/mean_length"):
        assert len(logs.series(run_key, metric)) == 2, metric
    report = stopped.value.report
    assert isinstance(report, StageReport) and "**STOPPED**" in report.markdown
    assert "| completion_length | above 2; 2 steps |" in report.markdown
    assert [r["step"] for r in report.tables["knowrl-grpo-monitors"]] == [1, 2]

    # on_trip: warn. The same run (the limits are not part of its identity) resumes from checkpoint-1, trips again at
    # step 2 (the restored log history holds step 1), and the stage completes with the stopped model.
    warned = run_grpo_stage(
        cfg.model_copy(update={"health": cfg.health.model_copy(update={"on_trip": "warn"})}), refs, ctx, "test"
    )
    assert warned.run_key == run_key and warned.metrics["resumed_from"] == "checkpoint-1"
    assert warned.stopped is not None and warned.stopped.stopped_at == 2 and warned.stopped.on_trip == "warn"
    assert warned.metrics["health"]["status"] == "stopped" and warned.metrics["steps"] == 2
    assert warned.headline().startswith("STOPPED: grpo stopped at step 2 by grpo.health: completion_length")
    assert TrainingRuns(ctx.warehouse).get(run_key)["status"] == "stopped"
    assert last_complete_checkpoint(run_dir).name == "checkpoint-1"  # kept for a relaxed rerun
    assert "completed with a warning" in grpo_report(warned, ctx).markdown
    # Publish sees it: a stopped model is refused unless publish.force.
    publish_refs = {"data": None, "sft": sft, "grpo": warned, "evaluate": SimpleNamespace(comparison={})}
    with pytest.raises(GateRefused, match="refusing to publish: grpo stopped at step 2 by grpo.health"):
        run_publish_stage(PublishConfig(repo_id="x/y", dry_run=True), publish_refs, ctx)

    # Relaxed: the run resumes from the kept checkpoint and trains to max_steps.
    done = run_grpo_stage(
        cfg.model_copy(update={"health": cfg.health.model_copy(update={"completion_length": None})}), refs, ctx, "test"
    )
    assert done.stopped is None and done.metrics["steps"] == 4 and done.metrics["resumed_from"] == "checkpoint-1"
    assert done.metrics["health"]["status"] == "healthy"
    assert TrainingRuns(ctx.warehouse).get(run_key)["status"] == "completed"
    assert not run_dir.exists()
