"""Every benchmark runs at its smoke size: its last line is the JSON with its keys, and both sides agree.

The benchmarks' figures are not checked here (a CI machine's timings mean nothing); what is checked is that each
script still runs against the current code and that the comparison it makes holds (`agree`, exit status 0).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from knowrl.registry import REGISTRY

ROOT = Path(__file__).resolve().parents[2]


def run_benchmark(script: str, *args: str, timeout: float = 600) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("KNOWRL_HOME", None)  # each benchmark makes its own in a temporary folder
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )
    assert out.returncode == 0, f"{script} exited {out.returncode}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    assert lines, f"{script} printed nothing"
    return json.loads(lines[-1])


def test_rewards_benchmark_smoke_both_sides_agree() -> None:
    figures = run_benchmark("bench_rewards.py", "--smoke")
    assert figures["agree"] is True and figures["differences"] == 0
    assert {s["latency_ms"] for s in figures["settings"]} == {0, 10}
    for setting in figures["settings"]:
        assert {"ours_s", "reference_s", "ratio", "ceiling", "concurrency", "ours_calls", "reference_calls"} <= set(
            setting
        )
        assert setting["differences"] == 0
    assert figures["resume"]["calls"] == 0 and figures["resume"]["differences"] == 0
    # The data exercise every case that decides a fact: ranking and the early exit matter.
    assert all(figures["cases"][c] > 0 for c in ("rank 1", "ranks 2-5", "below the top 5", "no passage"))


def test_retrieval_benchmark_smoke_per_topic_ranking_matches_theirs() -> None:
    figures = run_benchmark("bench_retrieval.py", "--smoke")
    assert figures["agree"] is True
    assert figures["cold_step_includes_index_build"] is False
    for facts in ("workload", "grounded"):
        assert figures[f"overlap_per_topic_{facts}_jaccard"] == 1.0
        assert figures[f"overlap_per_topic_{facts}_same_decision"] == 1.0
        assert 0.0 <= figures[f"overlap_segment_{facts}_jaccard"] <= 1.0
    assert {"cold_step_s", "warm_step_s", "ref_cold_step_s", "ref_warm_step_s", "build_s"} <= set(figures)


def test_generation_benchmark_smoke_batched_equals_one_at_a_time() -> None:
    figures = run_benchmark("bench_generation.py", "--smoke")
    assert figures["agree"] is True and figures["identical_outputs"] == figures["prompts"]
    assert {"batched_s", "sequential_s", "speedup"} <= set(figures)


@pytest.mark.slow
def test_training_overhead_benchmark_smoke_runs_both_stages() -> None:
    figures = run_benchmark("bench_training_overhead.py", "--smoke", timeout=1200)
    for stage in ("sft", "grpo"):
        assert {"plain_step_s", "stage_step_s", "overhead_ratio", "steps"} <= set(figures[stage])
        assert figures[stage]["plain_step_s"] > 0 and figures[stage]["stage_step_s"] > 0


@pytest.mark.slow
def test_cached_rerun_benchmark_smoke_finds_every_stage_cached() -> None:
    # The script itself exits 1 unless the rerun, `knowrl status` and the flow find every stage cached.
    figures = run_benchmark("bench_cached_rerun.py", "--smoke", timeout=900)
    assert figures["stages_cached"] == len(REGISTRY)
    assert 0 < figures["cached_s"] < figures["first_s"] and figures["cached_ratio"] < 1


def test_storage_benchmark_smoke_replays_every_stage_under_both_profiles() -> None:
    figures = run_benchmark("bench_storage.py", "--smoke")
    assert figures["size_mb"] == 8 and figures["upload_mb_s"] > 0 and figures["download_mb_s"] > 0
    assert list(figures["replay_stages"]) == list(REGISTRY.names)
    for row in figures["replay_stages"].values():
        assert row["local_s"] > 0 and row["remote_s"] > 0


def test_gpu_smoke_script_runs_its_path_on_cpu() -> None:
    figures = run_benchmark("gpu_smoke.py", "--smoke")
    assert figures["device"] == "cpu" and figures["curate_enabled"] is False  # off in the paper recipe
    assert figures["sft_steps"] == 2 and figures["grpo_steps"] == 1 and figures["judge_requests"] > 0
    assert figures["sft_chat_template"] == "chatml" and figures["grpo_prompt_style"] == "user_prefill"
    assert figures["nli_forwards"] > 0 and figures["eval_generations"] == 20


@pytest.mark.slow
def test_demo_claim_benchmark_smoke_reports_every_set_per_run() -> None:
    figures = run_benchmark("bench_demo_claim.py", "--smoke", "--pass-rate-k", "2", timeout=900)
    assert [run["name"] for run in figures["runs"]] == ["knowrl-seed0"]
    for run in figures["runs"]:
        assert set(run["rates"]) == {"unknown", "known", "trained"}
        assert set(run["claim"]) == {
            "fewer_incorrect_on_unknown",
            "no_more_refusals_on_known",
            "trained_kept",
            "refusal_gap_grows",
            "refuses_unknown_not_known",
        }
        moves = run["known_refusals"]  # every known question is counted once, as SFT answered it
        assert moves["sft_right"] + moves["sft_wrong"] + moves["sft_refused"] == 20, moves
        assert all(moves[f"sft_{g}_grpo_refused"] <= moves[f"sft_{g}"] for g in ("right", "wrong", "refused")), moves
        # The same known questions split by SFT's sampled pass rate: every one counted once, and GRPO's refusals
        # (read back from evaluate's stored grades) are the ones evaluate's moves counted.
        split = run["known_by_sft_pass_rate"]
        assert split["sft_sure"] + split["sft_unsure"] == 20 and split["grpo_graded"] == 20, split
        refused = sum(moves[f"sft_{g}_grpo_refused"] for g in ("right", "wrong", "refused"))
        assert split["sft_sure_grpo_refused"] + split["sft_unsure_grpo_refused"] == refused, (split, moves)
    assert figures["summary"]["claim_held"]["trained_kept"].endswith("/1")
