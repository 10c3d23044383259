"""The evaluation report: a Markdown table (base, SFT, GRPO, and each pair's difference with its 95% interval)
and a chart of the three models side by side per benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless workers: no display
import matplotlib.pyplot as plt

from knowrl.evaluate.metrics import DIRECTION
from knowrl.evaluate.result import EvaluateRef
from knowrl.pipeline.runtime import StageContext
from knowrl.pipeline.spec import StageReport

LABELS = {"base": "base", "sft": "SFT (no KnowRL)", "grpo": "GRPO (KnowRL)"}


def _diff(cell: dict[str, Any]) -> str:
    ci = f" [{cell['ci_low']:+.3f}, {cell['ci_high']:+.3f}]" if cell.get("ci_low") is not None else ""
    return f"{cell['diff']:+.3f}{ci}"


def _value(row: dict[str, Any], label: str) -> str:
    spread = row.get("spread", {}).get(label)
    return f"{row[label]:.3f}" + (f" ± {spread:.3f}" if spread is not None else "")


def _generation(entry: dict[str, Any]) -> str:
    g = entry.get("generation") or {}
    samples, temperature = g.get("samples", 1), g.get("temperature", 0.0)
    how = "greedy" if samples == 1 and not temperature else f"{samples} samples at temperature {temperature}"
    how += f", top-p {g['top_p']}" if temperature and g.get("top_p", 1.0) < 1.0 else ""
    configs = f", configurations {', '.join(entry['configs'])}" if entry.get("configs") else ""
    return f"{entry['items']} items{configs}; {how}; up to {g.get('max_new_tokens', '?')} new tokens"


def training_caveat(grpo: Any) -> str:
    """What a reader must know before the GRPO model's figures: that a `grpo.health` limit stopped its training
    (on_trip `warn` keeps the stopped model; publish refuses it unless forced). Empty for a run that finished."""
    stopped = getattr(grpo, "stopped", None)
    if stopped is None:
        return ""
    return f"the GRPO model is from a run that {stopped.line().removeprefix('grpo ')} (grpo.health.on_trip=warn). "


def markdown_report(
    comparison: dict[str, dict[str, Any]],
    models: dict[str, str],
    summary: str,
    prompt_styles: dict[str, str] | None = None,
    usage: list[dict[str, Any]] | None = None,
) -> str:
    """`models`: label -> what the model is (an artifact id or the recipe's model reference), never a local path;
    `prompt_styles`: label -> how it was prompted; `usage`: the judges' calls and tokens."""
    better = lambda d: ", ".join(sorted(m for m, v in DIRECTION.items() if v == d))  # noqa: E731
    styles = prompt_styles or {}
    lines = [
        "# Evaluation: base, SFT (cold start, without KnowRL) and GRPO (KnowRL)",
        "",
        f"**Result:** {summary}",
        "",
        *(
            f"- {LABELS[label]}: `{identity}`" + (f", prompted as `{styles[label]}`" if label in styles else "")
            for label, identity in models.items()
        ),
        "",
        "Prompt styles (knowrl/method/prompts.py): `system` is the method's instruction as a system turn, `user` the "
        "question alone (the base model is asked as its users would, without an instruction it was never trained on).",
        "",
        *(f"- {bench}: {_generation(entry)}" for bench, entry in comparison.items()),
        "",
        "Differences are paired (same items; a sampled item counts with its mean over samples), with a bootstrap 95% "
        "interval; `± x` is the standard deviation over sample runs. "
        f"Lower is better for: {better(-1)}. No bad direction (the method intends more refusals where the model "
        f"does not know): {better(0)}. `truncated_rate` is the share of answers cut at the length limit.",
        "",
        "| benchmark | metric | base | SFT | GRPO | GRPO - SFT | GRPO - base | SFT - base |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for bench, entry in comparison.items():
        for metric, row in entry["metrics"].items():
            lines.append(
                f"| {bench} | {metric} | {_value(row, 'base')} | {_value(row, 'sft')} | {_value(row, 'grpo')} | "
                f"{_diff(row['grpo-sft'])} | {_diff(row['grpo-base'])} | {_diff(row['sft-base'])} |"
            )
    moved = {bench: entry["moves"]["grpo-sft"] for bench, entry in comparison.items() if "moves" in entry}
    if moved:
        lines += [
            "",
            "## Answers that changed grade from SFT to GRPO",
            "",
            "Same question, same sample. KnowRL intends wrong answers to become refusals (`incorrect -> "
            "not_attempted`); a right answer that becomes a refusal (`correct -> not_attempted`) is a refusal of what "
            "the model knew.",
            "",
            *(f"- {bench}: {_moves(counts)}" for bench, counts in moved.items()),
        ]
    if usage:
        lines += [
            "",
            "## Judges",
            "",
            "| role | model | reported model | calls | cached | prompt tokens | completion tokens |",
        ]
        lines.append("|---|---|---|---|---|---|---|")
        lines += [
            f"| {u['role']} | {u['model']} | {u['reported_models']} | {u['calls']} | {u['cache_hits']} | "
            f"{u['prompt_tokens']} | {u['completion_tokens']} |"
            for u in usage
        ]
    return "\n".join(lines) + "\n"


def _moves(counts: dict[str, int]) -> str:
    """The changed grades, and of how many answers each first grade was: 'correct -> not_attempted 1 (of 10)'."""
    totals: dict[str, int] = {}
    for key, n in counts.items():
        totals[key.split("->")[0]] = totals.get(key.split("->")[0], 0) + n
    changed = [
        f"{key.replace('->', ' -> ')} {n} (of {totals[key.split('->')[0]]})"
        for key, n in counts.items()
        if key.split("->")[0] != key.split("->")[1]
    ]
    return ", ".join(changed) or "none"


def grade_chart(comparison: dict[str, dict[str, Any]], path: Path) -> Path:
    """Correct / incorrect / not attempted per benchmark, base, SFT and GRPO side by side (stacked bars)."""
    benches = list(comparison)
    fig, ax = plt.subplots(figsize=(max(6, 2.6 * len(benches)), 3.8))
    colours = {"correct": "#4c9a2a", "incorrect": "#c0392b", "not_attempted": "#9e9e9e"}
    hatches = {"base": None, "sft": "..", "grpo": "//"}
    width = 0.27
    for b, bench in enumerate(benches):
        metrics = comparison[bench]["metrics"]
        for m, model in enumerate(("base", "sft", "grpo")):
            if "correct_rate" in metrics:
                parts = {g: metrics[f"{g}_rate"][model] for g in colours}
            elif "precision" in metrics:  # factscore: responding x precision supported, the rest not; abstentions
                answered = 1 - metrics["abstention_rate"][model]
                precision = metrics["precision"][model]
                parts = {
                    "correct": answered * precision,
                    "incorrect": answered * (1 - precision),
                    "not_attempted": 1 - answered,
                }
            else:
                score = metrics["accuracy" if "accuracy" in metrics else "bleu_acc"][model]
                parts = {"correct": score, "incorrect": 1 - score, "not_attempted": 0.0}
            bottom = 0.0
            for grade, value in parts.items():
                ax.bar(
                    b + (m - 1) * width,
                    value,
                    width,
                    bottom=bottom,
                    color=colours[grade],
                    label=grade.replace("_", " ") if b == 0 and m == 0 else None,
                    hatch=hatches[model],
                    edgecolor="white",
                )
                bottom += value
    ax.set_xticks(range(len(benches)), [f"{b}\n(base | SFT | GRPO)" for b in benches], fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of items")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title("Grades per benchmark: base, SFT (dotted), GRPO (hatched)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def evaluate_report(ref: EvaluateRef, ctx: StageContext) -> StageReport:
    """What the evaluate stage shows in the orchestrator: its Markdown report."""
    return StageReport(Path(ref.report_path).read_text() + f"\n\nchart: `{ref.chart_path}`\n")
