"""Run the evaluate stage: both models on the same items, every answer stored, compared with intervals."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from knowrl.config.stages import EvaluateConfig
from knowrl.evaluate.benchmarks import Benchmark, load_benchmark
from knowrl.evaluate.generation import generate
from knowrl.evaluate.metrics import accuracy, bootstrap_diff, per_item_values, qa_metrics, truthfulqa_extra
from knowrl.evaluate.report import grade_chart, markdown_report
from knowrl.evaluate.scoring import score_items
from knowrl.judges import build_judge
from knowrl.runtime import StageContext
from storage.evaluations import EvalTables
from storage.llm_cache import LLMCache
from storage.publications import Publications


def model_id(path: str | Path) -> str:
    """Artifacts are content-addressed; other model folders (Hub snapshots, builtin) name their content."""
    return hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:16]


def benchmark_metrics(name: str, items: list[dict[str, Any]]) -> dict[str, float]:
    grades = [i["grade"] for i in items]
    if name in ("gpqa", "aime"):
        return accuracy([i["score"] for i in items])
    metrics = qa_metrics(grades)
    if name == "truthfulqa":
        metrics.update(truthfulqa_extra([i["details"] for i in items]))
    return metrics


def evaluate_model(
    cfg: EvaluateConfig, ctx: StageContext, model_path: str, bench: Benchmark, judge: Any, label: str
) -> tuple[list[dict[str, Any]], bool]:
    """Items of one model on one benchmark: from the warehouse when already evaluated, else generated now."""
    tables = EvalTables(ctx.warehouse)
    generation_config = {"max_new_tokens": cfg.max_new_tokens, "judge": cfg.judge.model_dump(mode="json")}
    key_src = json.dumps([model_id(model_path), bench.name, bench.fingerprint, generation_config], sort_keys=True)
    eval_key = hashlib.sha256(key_src.encode()).hexdigest()[:24]
    existing = tables.items(eval_key)
    if len(existing) == len(bench.items):
        return existing, True
    total = len(bench.items)
    generations = generate(
        Path(model_path),
        [i.question for i in bench.items],
        cfg.max_new_tokens,
        cfg.batch_size,
        cfg.use_vllm,
        progress=lambda n: ctx.progress(f"evaluate: {label} on {bench.name}: {n}/{total} generated", None),
    )
    scored = score_items(bench.name, bench.items, generations, judge)
    items = [vars(s) for s in scored]
    tables.store(
        eval_key, model_id(model_path), bench.name, bench.fingerprint, items, benchmark_metrics(bench.name, items)
    )
    return tables.items(eval_key), False


def compare(
    name: str, base: list[dict[str, Any]], trained: list[dict[str, Any]], cfg: EvaluateConfig
) -> dict[str, Any]:
    base_metrics, trained_metrics = benchmark_metrics(name, base), benchmark_metrics(name, trained)
    rows = {}
    for metric, base_value in base_metrics.items():
        row: dict[str, Any] = {
            "base": base_value,
            "trained": trained_metrics[metric],
            "diff": trained_metrics[metric] - base_value,
            "ci_low": None,
            "ci_high": None,
        }
        a = per_item_values(metric, [i["grade"] for i in base], [i["details"] for i in base])
        b = per_item_values(metric, [i["grade"] for i in trained], [i["details"] for i in trained])
        if a is not None and b is not None:
            _, row["ci_low"], row["ci_high"] = bootstrap_diff(a, b, cfg.bootstrap_samples, cfg.seed)
        rows[metric] = row
    return rows


def baseline_model(cfg: EvaluateConfig, refs: dict[str, dict[str, Any]], ctx: StageContext) -> str:
    if cfg.baseline == "last_published":
        last = Publications(ctx.warehouse).latest()
        if last is not None:
            bundle = ctx.artifacts.open(last["bundle_artifact"], stage="publish", verify=False)
            ctx.progress(f"evaluate: baseline is the last published model (bundle {bundle.artifact_id[:12]})", None)
            return str(bundle.path)
        ctx.progress("evaluate: nothing published yet; the baseline is the base model", None)
    return refs["sft"]["base_model_path"]


def run_evaluate_stage(cfg: EvaluateConfig, refs: dict[str, dict[str, Any]], ctx: StageContext) -> dict[str, Any]:
    models = {"base": baseline_model(cfg, refs, ctx), "trained": refs["grpo"]["model_path"]}
    judge = build_judge(cfg.judge, LLMCache(ctx.warehouse))
    comparison: dict[str, dict[str, Any]] = {}
    cache_hits, fingerprints = 0, {}
    for n, spec in enumerate(cfg.benchmarks):
        bench = load_benchmark(spec, ctx.paths.root / "hf-cache", cfg.seed)
        fingerprints[bench.name] = bench.fingerprint
        ctx.progress(f"evaluate: {bench.name} ({len(bench.items)} items)", n / len(cfg.benchmarks))
        results = {}
        for label, path in models.items():
            results[label], hit = evaluate_model(cfg, ctx, path, bench, judge, label)
            cache_hits += hit
        comparison[bench.name] = compare(bench.name, results["base"], results["trained"], cfg)
    report = markdown_report(comparison, models)

    def build(directory: Path) -> None:
        (directory / "report.md").write_text(report)
        (directory / "comparison.json").write_text(json.dumps(comparison, indent=1))
        grade_chart(comparison, directory / "grades.png")

    artifact = ctx.artifacts.write(
        "evaluate",
        build,
        config=cfg.model_dump(mode="json"),
        inputs={"base": model_id(models["base"]), "trained": refs["grpo"]["fingerprint"], **fingerprints},
        metrics={"cache_hits": cache_hits},
    )
    ctx.progress(f"evaluate: report at {artifact.path / 'report.md'}", 1.0)
    return {
        "stage": "evaluate",
        "fingerprint": artifact.artifact_id,
        "artifact_id": artifact.artifact_id,
        "report_path": str(artifact.path / "report.md"),
        "chart_path": str(artifact.path / "grades.png"),
        "comparison": comparison,
        "cache_hits": cache_hits,
        "models": models,
    }
