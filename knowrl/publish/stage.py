"""Run the publish stage: gate, card, bundle in the artifact store, then push (or, with dry_run, only the bundle).

Without dry_run the token must be set: the stage fails before writing anything rather than skipping the push."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import yaml

from knowrl.errors import ConfigError
from knowrl.pipeline.runtime import StageContext
from knowrl.publish.card import build_card, redact_local_paths
from knowrl.publish.config import PublishConfig
from knowrl.publish.gate import GateRefused, check_gate
from knowrl.publish.hub import push_folder
from knowrl.publish.result import PublishRef
from knowrl.stage_outputs import artifact_dir
from knowrl.stage_outputs import model_dir as trained_model_dir
from storage.artifacts import MANIFEST
from storage.publications import Publications


def _bundle(directory: Path, model_dir: Path, card_text: str, chart: Path | None, lineage: dict[str, Any]) -> None:
    for item in model_dir.iterdir():
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, directory / item.name)
    (directory / "README.md").write_text(card_text)
    if chart and chart.exists():
        shutil.copy2(chart, directory / "grades.png")
    (directory / "knowrl_lineage.json").write_text(json.dumps(lineage, indent=1, default=str))


def _who(usage: dict[str, Any]) -> dict[str, Any]:
    keys = ("role", "backend", "model", "reported_models", "prompt_tokens", "completion_tokens")
    return {k: usage.get(k) for k in keys}


def run_publish_stage(cfg: PublishConfig, refs: dict[str, Any], ctx: StageContext) -> PublishRef:
    """Its spec has `needs_recipe`: `ctx.recipe` is the run's recipe, shown on the model card."""
    data, sft, grpo, evaluate = refs["data"], refs["sft"], refs["grpo"], refs["evaluate"]
    comparison = evaluate.comparison
    violations = check_gate(cfg.gate, comparison)
    stopped = getattr(grpo, "stopped", None)  # a GRPO run a health limit stopped (grpo.health.on_trip: warn)
    if stopped is not None and not cfg.force:
        raise GateRefused(
            f"refusing to publish: {stopped.line()}, and this model is the stopped one. Fix the reward or relax "
            "grpo.health and train again, or set publish.force=true."
        )
    if stopped is not None:
        violations.append(f"training health (forced): {stopped.line()}")
    if violations and not cfg.force:
        raise GateRefused(
            "refusing to publish: the trained model is worse than the baseline on "
            + "; ".join(violations)
            + ". Fix the run, relax publish.gate, or set publish.force=true."
        )
    token = os.environ.get(cfg.token_env)
    if not cfg.dry_run and not token:  # before writing anything: a push that cannot happen is not skipped silently
        raise ConfigError(
            f"publish.dry_run=false but ${cfg.token_env} is not set: set {cfg.token_env} to a Hub token with write "
            f"access to {cfg.repo_id}, or set publish.dry_run=true to only write the bundle"
        )
    model_dir = trained_model_dir(ctx, grpo, "merged" if cfg.push == "merged" else "adapter")
    evaluation = artifact_dir(ctx, evaluate)
    report_md = (evaluation / "report.md").read_text()
    recipe = redact_local_paths(ctx.recipe or {})  # the card is public: no folder of this machine in it
    card = build_card(
        repo_id=cfg.repo_id,
        license=cfg.license,
        base_model=recipe["sft"]["base_model"],
        datasets=[recipe["data"]["rl_source"], recipe["data"].get("coldstart_source") or ""],
        recipe_name=recipe.get("name", "recipe"),
        recipe_yaml=yaml.safe_dump(recipe, sort_keys=False),
        data=redact_local_paths(data.model_dump(mode="json")),
        comparison=comparison,
        report_md=report_md,
        push=cfg.push,
        prompt_style=(recipe.get("grpo") or {}).get("prompt_style", "system"),
        training_usage=grpo.metrics.get("llm_usage") or [],
    )
    lineage = {
        "data": data.fingerprint,
        "sft": sft.fingerprint,
        "grpo": grpo.fingerprint,
        "evaluate": evaluate.fingerprint,
        "gate_violations_forced": violations,
        # Who graded and checked: the models the recipe named and the model ids the endpoints reported.
        "judges": {
            "grpo": [_who(u) for u in grpo.metrics.get("llm_usage") or []],
            "evaluate": [_who(u) for u in evaluate.usage],
        },
    }
    chart = evaluation / "grades.png"
    bundle = ctx.artifacts.write(
        "publish",
        lambda d: _bundle(d, model_dir, str(card), chart, lineage),
        config=cfg.model_dump(mode="json"),
        inputs={"grpo": grpo.fingerprint},
    )
    tag = f"{cfg.tag_prefix}{bundle.artifact_id[:12]}"
    ref = PublishRef(
        fingerprint=bundle.artifact_id,
        artifact_id=bundle.artifact_id,
        bundle_path=str(bundle.path),
        repo_id=cfg.repo_id,
        pushed=False,
        url=None,
        tag=tag,
        gate_violations=violations,
    )
    if cfg.dry_run or not token:
        ctx.progress(f"publish: not pushing (dry_run is set); the exact bundle is at {bundle.path}", 1.0)
    else:
        ctx.progress(f"publish: pushing {bundle.path} to {cfg.repo_id}", 0.5)
        # The bundle as it is, less the artifact manifest (our store's bookkeeping, not the model's): no copy of
        # the merged weights is made just to leave one file out.
        message = f"knowrl: publish {grpo.fingerprint[:12]}"
        result = push_folder(bundle.path, cfg.repo_id, token, cfg.private, tag, message, leave_out=(MANIFEST,))
        ref = ref.model_copy(update={"pushed": True, "url": result.url, "commit": result.commit})
        ctx.progress(f"publish: pushed {cfg.repo_id} commit {result.commit[:12]}, tag {tag}", 1.0)
    Publications(ctx.warehouse).record(ref.model_dump(mode="json"), grpo.fingerprint, comparison)
    return ref
