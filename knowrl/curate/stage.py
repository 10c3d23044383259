"""Run the curate stage: sample k answers per RL question from the SFT model (batched, the evaluation's
generator), grade them with the configured judge, store each question's pass rate, refusal rate and answer
agreement in the warehouse, bucket the questions and keep the ones the recipe's policy picks for GRPO.

Off (the default), it returns at once: no model, no data read, and GRPO trains on every RL row.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from knowrl.curate.buckets import CurationError, QuestionStats, Selection, question_stats, select
from knowrl.curate.config import BUCKETS, CurateConfig
from knowrl.curate.report import markdown_report
from knowrl.curate.result import CurateRef, off_result
from knowrl.data.result import DataRef
from knowrl.hashing import stable_hash
from knowrl.judges import build_judge
from knowrl.judges.base import Judge
from knowrl.judges.prompts import grader_template
from knowrl.judges.usage import usage_line, usage_rows
from knowrl.pipeline.runtime import StageContext
from knowrl.stage_outputs import model_dir
from knowrl.train.result import SFTRef
from storage.curation import CurationTables
from storage.datasets import DatasetTables
from storage.llm_cache import LLMCache
from storage.llm_usage import LLMUsage

KEPT_FILE = "kept.json"  # the row ids GRPO trains on, in the RL set's order
LEFT_OUT_FILE = "left_out.json"  # the row ids it leaves out


def sampling_settings(cfg: CurateConfig) -> dict[str, Any]:
    """What decides a question's samples and grades besides the model and the data (the warehouse key's part)."""
    return {
        "k": cfg.k,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "max_new_tokens": cfg.max_new_tokens,
        "prompt_style": cfg.prompt_style,
        "seed": cfg.seed,
        "judge": cfg.judge.model_dump(mode="json"),
        "grader": stable_hash(grader_template(cfg.judge.prompt_file).text),
    }


def curate_key(cfg: CurateConfig, model_identity: str, rl_fingerprint: str) -> str:
    """The warehouse key of a model's graded samples of an RL set: the policy is not in it (a new policy re-buckets
    the stored samples without sampling again)."""
    return stable_hash([stable_hash(model_identity), rl_fingerprint, sampling_settings(cfg)], 24)


def sample_and_grade(
    cfg: CurateConfig,
    model_path: Path,
    rows: list[dict[str, Any]],
    judge: Judge,
    progress: Callable[[str, float | None], None],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """k sampled answers per question in batches (every question's k samples in one pass over the prompts), graded
    as the evaluation grades a QA item; per question its stats, answers and grades, and the generation's counts."""
    from knowrl.evaluate.benchmarks import EvalItem
    from knowrl.evaluate.generation import Generator
    from knowrl.evaluate.scoring import score_items

    repeated = [r for r in rows for _ in range(cfg.k)]
    items = [EvalItem(r["row_id"], r["question"], list(r["answers"]), "qa", prompt=r["question"]) for r in repeated]
    generator = Generator(model_path, cfg.use_vllm)
    total = len(items)
    if cfg.temperature > 0 and not generator.use_vllm:
        import torch

        torch.manual_seed(cfg.seed)  # the same samples on a rerun with the same settings
    generations = generator.generate(
        [i.prompt for i in items],
        cfg.prompt_style,
        cfg.max_new_tokens,
        cfg.batch_size,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        progress=lambda n: progress(f"curate: {n}/{total} answers sampled", n / total),
    )
    scored = score_items(items, [g.text for g in generations], judge)
    out = []
    for start in range(0, total, cfg.k):
        group, row = scored[start : start + cfg.k], repeated[start]
        grades = [s.grade or "not_attempted" for s in group]
        answers = [s.answer for s in group]
        stats = question_stats(row["row_id"], row["question"], grades, answers)
        out.append(
            {**stats.as_row(), "answers": [{"answer": a, "grade": g} for a, g in zip(answers, grades, strict=True)]}
        )
    counts = {
        "generations": total,
        "truncated": sum(g.truncated for g in generations),
        "followed_format": sum(s.followed_format for s in scored),
    }
    return out, counts


def _stats(row: dict[str, Any]) -> QuestionStats:
    return QuestionStats(
        row["row_id"], row["question"], row["samples"], row["correct"], row["refused"], row["agreement"]
    )


def run_curate_stage(cfg: CurateConfig, upstream: dict[str, Any], ctx: StageContext) -> CurateRef:
    off = off_result(cfg)
    if off is not None:
        ctx.progress("curate: off; GRPO trains on every RL row", 1.0)
        return off
    data: DataRef = upstream["data"]
    sft: SFTRef = upstream["sft"]
    rl_fp = data.rl.fingerprint
    rows = DatasetTables(ctx.warehouse).rl_rows(rl_fp, "train")
    if not rows:
        raise CurationError(f"RL set {rl_fp} has no training rows to curate; check the data stage's split")
    identity = f"artifact:{sft.artifact_id}"
    key = curate_key(cfg, identity, rl_fp)
    tables = CurationTables(ctx.warehouse)
    stored = {r["row_id"]: r for r in tables.questions(key)}
    cache_hit = bool(stored) and all(r["row_id"] in stored for r in rows)
    usage: list[dict[str, Any]] = []
    counts: dict[str, Any] = {}
    if cache_hit:
        ctx.progress(f"curate: {len(rows)} questions' samples from the warehouse (key {key[:12]})", None)
    else:
        ctx.progress(f"curate: sampling {cfg.k} answers for each of {len(rows)} questions from the SFT model", 0.0)
        judge = build_judge(cfg.judge, LLMCache(ctx.warehouse), grader_template(cfg.judge.prompt_file))
        graded, counts = sample_and_grade(cfg, model_dir(ctx, sft), rows, judge, ctx.progress)
        tables.store(key, stable_hash(identity), rl_fp, graded)
        stored = {r["row_id"]: r for r in graded}
        usage = usage_rows({"judge": judge})
        LLMUsage(ctx.warehouse).record("curate", key, usage)
        ctx.progress(f"curate: {usage_line(usage)}", None)
    stats = [_stats(stored[r["row_id"]]) for r in rows]
    selection = select(stats, cfg.policy)
    answers = {row_id: row["answers"] for row_id, row in stored.items()}
    return _write(cfg, ctx, key, rl_fp, sft, stats, answers, selection, cache_hit, usage, counts)


def _write(
    cfg: CurateConfig,
    ctx: StageContext,
    key: str,
    rl_fp: str,
    sft: SFTRef,
    stats: list[QuestionStats],
    answers: dict[str, list[dict[str, Any]]],
    selection: Selection,
    cache_hit: bool,
    usage: list[dict[str, Any]],
    counts: dict[str, Any],
) -> CurateRef:
    """The artifact (report, buckets, kept and left-out row ids, every question's stats) and the result."""
    kept = set(selection.kept)
    n = len(stats)
    metrics: dict[str, Any] = {
        "mean_pass_rate": round(sum(s.pass_rate for s in stats) / n, 4),
        "mean_refusal_rate": round(sum(s.refusal_rate for s in stats) / n, 4),
        "mean_agreement": round(sum(s.agreement for s in stats) / n, 4),
    }
    buckets = {"sizes": selection.sizes, "kept": selection.kept_by_bucket, "policy": cfg.policy.describe()}
    report = markdown_report(cfg, stats, selection, metrics)

    def build(directory: Path) -> None:
        (directory / "report.md").write_text(report)
        (directory / "buckets.json").write_text(json.dumps(buckets, indent=1))
        (directory / KEPT_FILE).write_text(json.dumps(selection.kept))
        (directory / LEFT_OUT_FILE).write_text(json.dumps([s.row_id for s in stats if s.row_id not in kept]))
        with (directory / "questions.jsonl").open("w") as out:
            for s in stats:
                row = {**s.as_row(), "kept": s.row_id in kept, "answers": answers[s.row_id]}
                out.write(json.dumps(row) + "\n")

    artifact = ctx.artifacts.write(
        "curate",
        build,
        config=cfg.model_dump(mode="json"),
        inputs={"rl": rl_fp, "sft": sft.fingerprint, "samples": key},
        metrics={**metrics, **counts, "llm_usage": usage},
    )
    ctx.progress(
        f"curate: GRPO trains on {len(selection.kept)}/{n} questions ({cfg.policy.describe()}); buckets "
        + ", ".join(f"{b} {selection.sizes[b]}" for b in BUCKETS),
        1.0,
    )
    return CurateRef(
        fingerprint=artifact.artifact_id,
        enabled=True,
        artifact_id=artifact.artifact_id,
        report_path=str(artifact.path / "report.md"),
        questions=n,
        kept=len(selection.kept),
        buckets=selection.sizes,
        kept_by_bucket=selection.kept_by_bucket,
        policy=cfg.policy.describe(),
        k=cfg.k,
        cache_hit=cache_hit,
        metrics={**metrics, **counts},
        usage=usage,
    )


def left_out_rows(ref: CurateRef | None, ctx: StageContext) -> set[str]:
    """Row ids GRPO leaves out by the curate result (none when curation is off or absent)."""
    if ref is None or not ref.enabled or not ref.artifact_id:
        return set()
    artifact = ctx.artifacts.open(ref.artifact_id, stage="curate", verify=False)
    return set(json.loads((artifact.path / LEFT_OUT_FILE).read_text()))
