"""The curate stage on the tiny model: k samples per RL question graded and stored, buckets and the kept set as an
artifact, the warehouse reused for a new policy; off, it touches nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from knowrl.curate.config import CurateConfig, CuratePolicy
from knowrl.curate.report import curate_report
from knowrl.curate.stage import left_out_rows, run_curate_stage
from knowrl.train.result import SFTRef
from tests.support.refs import made_up_ref


def test_off_loads_nothing_and_says_off(ctx) -> None:
    ref = run_curate_stage(CurateConfig(), {}, ctx)  # no data, no model: it must not read either
    assert (ref.enabled, ref.fingerprint, ref.artifact_id) == (False, "off", None)
    assert ref.headline() == "off: GRPO trains on every RL row" and left_out_rows(ref, ctx) == set()
    assert "Off" in curate_report(ref, ctx).markdown


def test_samples_grades_buckets_and_keeps_the_policy_s_set(ctx, tiny_model_dir: Path, demo_data_ref) -> None:
    trained = ctx.artifacts.write("sft", lambda d: shutil.copytree(tiny_model_dir, d / "merged"))
    sft = SFTRef.model_validate(made_up_ref("sft", trained.artifact_id))
    upstream = {"data": demo_data_ref, "sft": sft}
    cfg = CurateConfig(enabled=True, k=2, temperature=0.9, max_new_tokens=8, batch_size=64)
    ref = run_curate_stage(cfg, upstream, ctx)
    n = demo_data_ref.rl.n_train
    assert ref.enabled and ref.questions == n and not ref.cache_hit
    assert sum(ref.buckets.values()) == n and set(ref.buckets) == set(ref.kept_by_bucket)
    assert ref.kept == n - ref.buckets["always_correct"] == sum(ref.kept_by_bucket.values())
    assert ref.metrics["generations"] == 2 * n and ref.usage[0]["calls"] > 0

    artifact = ctx.artifacts.open(ref.artifact_id, stage="curate")
    kept = json.loads((artifact.path / "kept.json").read_text())
    assert len(kept) == ref.kept and not set(kept) & left_out_rows(ref, ctx)
    assert len(kept) + len(left_out_rows(ref, ctx)) == n
    questions = [json.loads(line) for line in (artifact.path / "questions.jsonl").read_text().splitlines()]
    assert len(questions) == n and all(len(q["answers"]) == 2 for q in questions)
    assert {q["row_id"] for q in questions if q["kept"]} == set(kept)
    assert all(q["pass_rate"] == q["correct"] / 2 and q["refusal_rate"] == q["refused"] / 2 for q in questions)
    report = Path(ref.report_path or "").read_text()
    assert f"GRPO trains on {ref.kept} of {n} questions" in report and "| always_refused |" in report
    shown = curate_report(ref, ctx)
    assert [row["bucket"] for row in shown.tables["knowrl-curate-buckets"]] == list(ref.buckets)

    with ctx.warehouse.connect() as con:
        stored = con.execute("SELECT count(*), min(samples), max(samples) FROM curate_questions").fetchall()[0]
    assert stored == (n, 2, 2)
    # The same model, data and sampling: the samples come from the warehouse, and the same artifact results.
    again = run_curate_stage(cfg, upstream, ctx)
    assert again.cache_hit and again.fingerprint == ref.fingerprint and again.buckets == ref.buckets
    # A new policy re-buckets the stored samples without loading the model.
    everything = run_curate_stage(cfg.model_copy(update={"policy": CuratePolicy(keep_all=True)}), upstream, ctx)
    assert everything.cache_hit and everything.kept == n and everything.fingerprint != ref.fingerprint
    assert left_out_rows(everything, ctx) == set()


def test_the_paper_recipes_train_on_every_row() -> None:
    from knowrl import resources
    from knowrl.registry import load_recipe

    for name in resources.recipe_names():
        if name.startswith("knowrl-7b"):
            assert not load_recipe(name).curate.enabled, name
