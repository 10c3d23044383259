"""Save a trained LoRA model as one artifact: `adapter/` and `merged/` (the adapter folded into the base)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless workers: no display
import matplotlib.pyplot as plt

from knowrl.errors import disk_full_as_oserror
from knowrl.pipeline.runtime import StageContext
from knowrl.train.runs import final_adapter_dir
from storage import Artifact


def save_model_artifact(
    ctx: StageContext,
    stage: str,
    trainer: Any,
    tokenizer: Any,
    *,
    config: dict[str, Any],
    inputs: dict[str, str],
    code_version: str,
    metrics: dict[str, Any],
    curves: dict[str, list[tuple[int, float]]],
) -> Artifact:
    saved = final_adapter_dir(trainer)

    def build(directory: Path) -> None:
        adapter = directory / "adapter"
        # What trainer.save_model wrote (gathered across ranks), less its pickled arguments: they name this
        # machine's run folder, and the artifact must be the same content wherever it was trained.
        shutil.copytree(saved, adapter, ignore=shutil.ignore_patterns("training_args.bin"))
        tokenizer.save_pretrained(adapter)
        merged_model(trainer, saved).save_pretrained(directory / "merged")
        tokenizer.save_pretrained(directory / "merged")
        (directory / "metrics.json").write_text(json.dumps(metrics, indent=1, default=str))
        if curves:
            plot_curves(curves, directory / "curves.png", title=stage)

    # The merged model is written by safetensors, which reports a full disk as its own error.
    with disk_full_as_oserror(ctx.artifacts.root):
        return ctx.artifacts.write(
            stage, build, config=config, inputs=inputs, code_version=code_version, metrics=metrics
        )


def merged_model(trainer: Any, adapter_dir: Path) -> Any:
    """The adapter folded into its base. Under ZeRO-3 the in-memory weights are shards: the base is loaded anew
    and the saved (gathered) adapter merged into it; otherwise the trained model is merged in memory."""
    model = trainer.model
    plugin = getattr(trainer.accelerator.state, "deepspeed_plugin", None)
    if plugin is not None and getattr(plugin, "zero_stage", 0) == 3:
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        base_path = next(iter(model.peft_config.values())).base_model_name_or_path
        base = AutoModelForCausalLM.from_pretrained(base_path)
        return PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model


def plot_curves(curves: dict[str, list[tuple[int, float]]], path: Path, title: str) -> None:
    fig, axes = plt.subplots(1, len(curves), figsize=(4.5 * len(curves), 3.2), squeeze=False)
    for ax, (name, points) in zip(axes[0], curves.items(), strict=True):
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker=".")
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def clear_run_dir(run_dir: Path) -> None:
    """After a run's artifact is committed its checkpoints are no longer needed."""
    shutil.rmtree(run_dir, ignore_errors=True)
