"""Run the evaluate stage: the base, the cold-start SFT and the GRPO model on the same items, every answer
stored, compared pairwise with bootstrap intervals.

The SFT model is the paper's "without KnowRL" ablation: GRPO against SFT is the method's own effect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from knowrl.errors import ConfigError
from knowrl.evaluate.benchmarks import Benchmark, load_benchmark
from knowrl.evaluate.config import BenchmarkSpec, EvaluateConfig
from knowrl.evaluate.factscore import FactCheck
from knowrl.evaluate.generation import Generator
from knowrl.evaluate.metrics import benchmark_metrics, bootstrap_diff, grade_moves, per_item_values, sample_runs
from knowrl.evaluate.report import grade_chart, markdown_report, training_caveat
from knowrl.evaluate.result import EvaluateRef
from knowrl.evaluate.scoring import score_items
from knowrl.evaluate.summary import effect_summary
from knowrl.hashing import stable_hash
from knowrl.judges import build_extractor, build_judge, build_verifier
from knowrl.judges.base import Judge
from knowrl.judges.prompts import CHINESE_SIMPLEQA_GRADER, SIMPLEQA_GRADER, Template, grader_template
from knowrl.judges.usage import usage_rows
from knowrl.pipeline.runtime import StageContext
from knowrl.stage_outputs import base_model_dir, model_dir
from knowrl.train.result import SFTRef
from storage.evaluations import EvalTables
from storage.llm_cache import LLMCache
from storage.llm_usage import LLMUsage
from storage.publications import Publications

MODELS = ("base", "sft", "grpo")
PAIRS = (("sft", "base"), ("grpo", "base"), ("grpo", "sft"))  # (model, compared with)
DEFAULT_GRADERS = {"simpleqa": SIMPLEQA_GRADER, "chinese_simpleqa": CHINESE_SIMPLEQA_GRADER, "aime": SIMPLEQA_GRADER}


@dataclass(frozen=True)
class EvalModel:
    """A model to evaluate: its folder on this worker, and what it is independent of where it sits (an artifact
    id, or the recipe's model reference), so stored answers are found again on any worker."""

    path: Path
    identity: str

    @property
    def model_id(self) -> str:
        return stable_hash(self.identity)


def grading_template(cfg: EvaluateConfig, spec: BenchmarkSpec) -> Template:
    prompt_file = spec.judge_prompt_file or cfg.judge.prompt_file
    return grader_template(prompt_file, DEFAULT_GRADERS.get(spec.name, SIMPLEQA_GRADER))


def prompt_style(cfg: EvaluateConfig, label: str) -> str:
    """How a model is prompted: the base model as its users would ask it, the trained ones as trained (config)."""
    return cfg.base_prompt_style if label == "base" else cfg.prompt_style


class BenchmarkRun:
    """One benchmark with its judge and generation settings, and the warehouse key of each model's answers to it."""

    def __init__(
        self,
        cfg: EvaluateConfig,
        spec: BenchmarkSpec,
        bench: Benchmark,
        judge: Judge,
        facts: FactCheck | None = None,
        knowledge: str | None = None,
    ) -> None:
        self.spec, self.bench, self.judge, self.facts = spec, bench, judge, facts
        self.template = grading_template(cfg, spec)
        self.max_new_tokens = spec.max_new_tokens or cfg.max_new_tokens
        self.settings = {
            "max_new_tokens": self.max_new_tokens,
            "samples": spec.samples,
            "temperature": spec.temperature,
            "top_p": spec.top_p,
            "judge": cfg.judge.model_dump(mode="json"),
            "grader": stable_hash(self.template.text),
        }
        if spec.name == "factscore":  # its facts are checked with these, in this store
            self.settings.update(
                extractor=cfg.extractor.model_dump(mode="json"),
                verifier=cfg.verifier.model_dump(mode="json"),
                knowledge=knowledge,
            )

    def eval_key(self, model: EvalModel, style: str) -> str:
        return stable_hash([model.model_id, self.bench.key, self.bench.fingerprint, self.settings, style], 24)


def generate_and_score(
    cfg: EvaluateConfig, run: BenchmarkRun, generator: Generator, style: str, progress: Any
) -> list[dict[str, Any]]:
    """Every item answered `samples` times (greedy once, or sampled) and graded; each stored item says its sample,
    its length in tokens and whether it hit the length limit."""
    bench, spec = run.bench, run.spec
    integer_judge = run.judge if cfg.judge.backend != "rules" else None
    scored: list[dict[str, Any]] = []
    for sample in range(spec.samples):
        generations = generator.generate(
            [i.prompt for i in bench.items],
            style,
            run.max_new_tokens,
            cfg.batch_size,
            temperature=spec.temperature,
            top_p=spec.top_p,
            progress=progress,
        )
        texts = [g.text for g in generations]
        graded = score_items(bench.items, texts, run.judge, integer_judge, run.facts)
        for item, generation in zip(graded, generations, strict=True):
            item.details.update(sample=sample, n_tokens=generation.n_tokens, truncated=generation.truncated)
            if spec.samples > 1:
                item.item_id = f"{item.item_id}#{sample}"
            scored.append(vars(item))
    return scored


def evaluate_models(
    cfg: EvaluateConfig, ctx: StageContext, models: dict[str, EvalModel], runs: list[BenchmarkRun]
) -> tuple[dict[str, dict[str, list[dict[str, Any]]]], int]:
    """Items per benchmark and model: from the warehouse when already evaluated, else generated and graded now.
    Each model is loaded once for all the benchmarks it still has to answer."""
    tables = EvalTables(ctx.warehouse)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {run.bench.key: {} for run in runs}
    cache_hits = 0
    for label, model in models.items():
        generator = Generator(model.path, cfg.use_vllm)
        style = prompt_style(cfg, label)
        for run in runs:
            key, bench = run.eval_key(model, style), run.bench
            items = tables.items(key)
            if len(items) == len(bench.items) * run.spec.samples:
                results[bench.key][label] = items
                cache_hits += 1
                continue
            where = f"evaluate: {label} on {bench.key} ({len(bench.items)} items x {run.spec.samples})"
            scored = generate_and_score(
                cfg, run, generator, style, lambda n, w=where: ctx.progress(f"{w}: {n} generated", None)
            )
            metrics = benchmark_metrics(bench.items[0].kind if bench.items else "qa", scored)
            tables.store(key, model.model_id, bench.key, bench.fingerprint, scored, metrics)
            results[bench.key][label] = tables.items(key)
    return results, cache_hits


def compare(kind: str, per_model: dict[str, list[dict[str, Any]]], cfg: EvaluateConfig) -> dict[str, Any]:
    """metric -> each model's value (the mean over every sample of every item), each pair's paired difference with
    its 95% interval (items paired, a sampled item's value being its mean over samples) and, with several samples,
    `spread`: each model's standard deviation of the metric over its sample runs."""
    metrics = {label: benchmark_metrics(kind, items) for label, items in per_model.items()}
    runs = {label: sample_runs(items) for label, items in per_model.items()}
    rows: dict[str, Any] = {}
    for metric in metrics["base"]:
        row: dict[str, Any] = {label: metrics[label][metric] for label in MODELS}
        for model, other in PAIRS:
            a, b = per_item_values(metric, per_model[other]), per_item_values(metric, per_model[model])
            diff = {"diff": metrics[model][metric] - metrics[other][metric], "ci_low": None, "ci_high": None}
            if a is not None and b is not None:
                _, diff["ci_low"], diff["ci_high"] = bootstrap_diff(a, b, cfg.bootstrap_samples, cfg.seed)
            row[f"{model}-{other}"] = diff
        if len(runs["base"]) > 1:
            row["spread"] = {
                label: float(np.std([benchmark_metrics(kind, run)[metric] for run in runs[label]])) for label in MODELS
            }
        rows[metric] = row
    return rows


def baseline_model(cfg: EvaluateConfig, refs: dict[str, Any], ctx: StageContext) -> EvalModel:
    if cfg.baseline == "last_published":
        last = Publications(ctx.warehouse).latest()
        if last is not None:
            bundle = ctx.artifacts.open(last["bundle_artifact"], stage="publish", verify=False)
            ctx.progress(f"evaluate: baseline is the last published model (bundle {bundle.artifact_id[:12]})", None)
            return EvalModel(bundle.path, f"artifact:{bundle.artifact_id}")
        ctx.progress("evaluate: nothing published yet; the baseline is the base model", None)
    sft: SFTRef = refs["sft"]
    path = base_model_dir(ctx, sft)
    reference = sft.base_model or sft.metrics.get("base_model") or str(path)
    if Path(reference).expanduser().exists():
        # A local folder: named by its folder name (the report is public) plus a hash of where it is.
        digest = stable_hash(str(Path(reference).expanduser().resolve()), 12)
        return EvalModel(path, f"base:{Path(reference).name}#{digest}")
    return EvalModel(path, f"base:{reference}@{sft.base_model_revision or 'main'}")


def fact_check(
    cfg: EvaluateConfig, refs: dict[str, Any], ctx: StageContext, cache: LLMCache
) -> tuple[FactCheck | None, str | None]:
    """The factscore kind's extractor, verifier and knowledge store (the knowledge stage's), with the store's
    fingerprint; (None, None) when no benchmark is of that kind."""
    if not any(spec.name == "factscore" for spec in cfg.benchmarks):
        return None, None
    knowledge = refs.get("knowledge")
    if knowledge is None:
        raise ConfigError(
            "a factscore benchmark checks facts in the knowledge stage's store, and evaluate received no knowledge "
            "result; run the knowledge stage (e.g. --stages knowledge,evaluate) or remove the factscore benchmark"
        )
    from knowrl.knowledge.stage import open_store

    check = FactCheck(
        extractor=build_extractor(cfg.extractor, cache),
        verifier=build_verifier(cfg.verifier, cache),
        store=open_store(knowledge, ctx),
        top_k=cfg.verifier.top_k,
        threshold=cfg.verifier.entailment_threshold,
    )
    return check, knowledge.fingerprint


def run_evaluate_stage(cfg: EvaluateConfig, refs: dict[str, Any], ctx: StageContext) -> EvaluateRef:
    sft, grpo = refs["sft"], refs["grpo"]
    models = {
        "base": baseline_model(cfg, refs, ctx),
        "sft": EvalModel(model_dir(ctx, sft), f"artifact:{sft.artifact_id}"),
        "grpo": EvalModel(model_dir(ctx, grpo), f"artifact:{grpo.artifact_id}"),
    }
    cache = LLMCache(ctx.warehouse)
    facts, knowledge = fact_check(cfg, refs, ctx, cache)
    runs = []
    for spec in cfg.benchmarks:
        bench = load_benchmark(spec, ctx.paths.root / "hf-cache", cfg.seed)
        ctx.progress(f"evaluate: {bench.key} ({len(bench.items)} items)", None)
        judge = build_judge(cfg.judge, cache, grading_template(cfg, spec))
        runs.append(BenchmarkRun(cfg, spec, bench, judge, facts, knowledge))
    results, cache_hits = evaluate_models(cfg, ctx, models, runs)
    comparison = {}
    for run in runs:
        kind = run.bench.items[0].kind if run.bench.items else "qa"
        metrics = compare(kind, results[run.bench.key], cfg)
        comparison[run.bench.key] = {
            "kind": kind,
            "items": len(run.bench.items),
            "configs": run.bench.configs,
            "generation": {k: run.settings[k] for k in ("max_new_tokens", "samples", "temperature", "top_p")},
            "metrics": metrics,
        }
        if kind == "qa":  # graded answers: which SFT answers GRPO turned into refusals, right ones or wrong ones
            per_model = results[run.bench.key]
            comparison[run.bench.key]["moves"] = {"grpo-sft": grade_moves(per_model["sft"], per_model["grpo"])}
    summary = training_caveat(grpo) + effect_summary(comparison)
    identities = {label: model.identity for label, model in models.items()}
    styles = {label: prompt_style(cfg, label) for label in models}
    roles: dict[str, Any] = {f"judge:{run.bench.key}": run.judge for run in runs}
    if facts is not None:  # the factscore kind's extraction and verification
        roles.update({"extractor:factscore": facts.extractor, "verifier:factscore": facts.verifier})
    usage = usage_rows(roles)
    report = markdown_report(comparison, identities, summary, styles, usage)

    def build(directory: Path) -> None:
        (directory / "report.md").write_text(report)
        (directory / "comparison.json").write_text(json.dumps(comparison, indent=1))
        grade_chart(comparison, directory / "grades.png")

    artifact = ctx.artifacts.write(
        "evaluate",
        build,
        config=cfg.model_dump(mode="json"),
        inputs={
            "base": models["base"].model_id,
            "sft": sft.fingerprint,
            "grpo": grpo.fingerprint,
            **{run.bench.key: run.bench.fingerprint for run in runs},
            **({"knowledge": knowledge} if knowledge else {}),
        },
        metrics={"cache_hits": cache_hits},
    )
    LLMUsage(ctx.warehouse).record("evaluate", artifact.artifact_id, usage)
    ctx.progress(f"evaluate: {summary}", None)
    ctx.progress(f"evaluate: report at {artifact.path / 'report.md'}", 1.0)
    return EvaluateRef(
        fingerprint=artifact.artifact_id,
        artifact_id=artifact.artifact_id,
        report_path=str(artifact.path / "report.md"),
        chart_path=str(artifact.path / "grades.png"),
        comparison=comparison,
        summary=summary,
        cache_hits=cache_hits,
        models=identities,
        prompt_styles=styles,
        usage=usage,
    )
