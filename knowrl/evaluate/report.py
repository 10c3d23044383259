"""The evaluation report: a Markdown table (base, trained, difference, 95% CI) and a grade chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless workers: no display
import matplotlib.pyplot as plt

from knowrl.evaluate.metrics import LOWER_IS_BETTER


def markdown_report(comparison: dict[str, dict[str, dict[str, Any]]], models: dict[str, str]) -> str:
    lines = [
        "# Evaluation: base vs trained",
        "",
        f"- base model: `{models['base']}`",
        f"- trained model: `{models['trained']}`",
        "",
        "Difference is trained minus base, with a paired bootstrap 95% interval. "
        f"Lower is better for: {', '.join(sorted(LOWER_IS_BETTER))}.",
        "",
        "| benchmark | metric | base | trained | difference | 95% CI |",
        "|---|---|---|---|---|---|",
    ]
    for bench, metrics in comparison.items():
        for metric, row in metrics.items():
            ci = f"[{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]" if row.get("ci_low") is not None else "n/a"
            lines.append(
                f"| {bench} | {metric} | {row['base']:.3f} | {row['trained']:.3f} | {row['diff']:+.3f} | {ci} |"
            )
    return "\n".join(lines) + "\n"


def grade_chart(comparison: dict[str, dict[str, dict[str, Any]]], path: Path) -> Path:
    """Incorrect / correct / not attempted per benchmark, base and trained side by side (stacked bars)."""
    benches = list(comparison)
    fig, ax = plt.subplots(figsize=(max(5, 1.9 * len(benches)), 3.6))
    colours = {"correct": "#4c9a2a", "incorrect": "#c0392b", "not_attempted": "#9e9e9e"}
    width = 0.38
    for b, bench in enumerate(benches):
        metrics = comparison[bench]
        for m, (model, offset) in enumerate((("base", -width / 2), ("trained", width / 2))):
            if "correct_rate" in metrics:
                parts = {g: metrics[f"{g}_rate"][model] for g in colours}
            else:
                acc = metrics["accuracy"][model]
                parts = {"correct": acc, "incorrect": 1 - acc, "not_attempted": 0.0}
            bottom = 0.0
            for grade, value in parts.items():
                ax.bar(
                    b + offset,
                    value,
                    width,
                    bottom=bottom,
                    color=colours[grade],
                    label=grade.replace("_", " ") if b == 0 and m == 0 else None,
                    hatch="//" if model == "trained" else None,
                    edgecolor="white",
                )
                bottom += value
    ax.set_xticks(range(len(benches)), [f"{b}\n(base | trained)" for b in benches])
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of items")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title("Grades per benchmark (hatched: trained)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
