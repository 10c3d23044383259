"""Small helpers for stages' reports (`StageSpec.report`): Markdown tables."""

from __future__ import annotations

from typing import Any


def md_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "_none_"
    headers = list(rows[0])
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(r.get(h, "")) for h in headers) + " |" for r in rows]
    return "\n".join(lines)


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """A result's metrics without nested values (those go elsewhere in a report)."""
    return {k: v for k, v in metrics.items() if not isinstance(v, dict)}
