"""Save a trained LoRA model as one artifact: `adapter/` and `merged/` (the adapter folded into the base)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless workers: no display
import matplotlib.pyplot as plt

from knowrl.runtime import StageContext
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
    model = trainer.model

    def build(directory: Path) -> None:
        adapter = directory / "adapter"
        model.save_pretrained(adapter)
        tokenizer.save_pretrained(adapter)
        merged = model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
        merged.save_pretrained(directory / "merged")
        tokenizer.save_pretrained(directory / "merged")
        (directory / "metrics.json").write_text(json.dumps(metrics, indent=1, default=str))
        if curves:
            plot_curves(curves, directory / "curves.png", title=stage)

    return ctx.artifacts.write(stage, build, config=config, inputs=inputs, code_version=code_version, metrics=metrics)


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
