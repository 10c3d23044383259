"""The evaluation in one line: what GRPO changed against the cold-start SFT model (the "without KnowRL" ablation).

For each hallucination benchmark: the incorrect rate (the paper's headline), the refusal rate and the correct
rate, SFT -> GRPO, with the 95% interval of the incorrect-rate difference; for the others, their accuracy.
"""

from __future__ import annotations

from typing import Any


def _interval(diff: dict[str, Any]) -> str:
    if diff.get("ci_low") is None:
        return ""
    return f" [95% CI {diff['ci_low']:+.2f}, {diff['ci_high']:+.2f}]"


def verdict(diff: dict[str, Any]) -> str:
    """What the incorrect-rate difference (GRPO - SFT) says, plainly, including when it says nothing."""
    if diff["diff"] >= 0:
        return "no fewer wrong answers than SFT"
    if diff.get("ci_high") is not None and diff["ci_high"] < 0:
        return "fewer wrong answers than SFT"
    return "fewer wrong answers than SFT, within noise"


def effect_summary(comparison: dict[str, dict[str, Any]]) -> str:
    parts = []
    for key, bench in comparison.items():
        m = bench["metrics"]
        if bench["kind"] == "qa":
            parts.append(
                f"{key}: incorrect {m['incorrect_rate']['sft']:.2f} -> {m['incorrect_rate']['grpo']:.2f} vs SFT"
                f"{_interval(m['incorrect_rate']['grpo-sft'])}, refusals {m['not_attempted_rate']['sft']:.2f} -> "
                f"{m['not_attempted_rate']['grpo']:.2f}, correct {m['correct_rate']['sft']:.2f} -> "
                f"{m['correct_rate']['grpo']:.2f} ({verdict(m['incorrect_rate']['grpo-sft'])})"
            )
        elif bench["kind"] == "factscore":
            parts.append(
                f"{key}: fact precision {m['precision']['sft']:.2f} -> {m['precision']['grpo']:.2f} vs SFT, supported "
                f"facts per response {m['supported_per_response']['sft']:.1f} -> "
                f"{m['supported_per_response']['grpo']:.1f}, abstaining {m['abstention_rate']['sft']:.2f} -> "
                f"{m['abstention_rate']['grpo']:.2f}"
            )
        elif bench["kind"] == "truthfulqa":
            parts.append(f"{key}: BLEU acc {m['bleu_acc']['sft']:.2f} -> {m['bleu_acc']['grpo']:.2f} vs SFT")
        else:
            parts.append(f"{key}: accuracy {m['accuracy']['sft']:.2f} -> {m['accuracy']['grpo']:.2f} vs SFT")
    return "; ".join(parts)
