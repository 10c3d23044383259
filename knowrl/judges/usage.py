"""What a stage's judging roles used, as rows for the warehouse (storage/llm_usage.py), its report and the model
card: per role (judge, extractor, verifier) the backend, the model the recipe named, the models the endpoint said
answered, calls, cache hits, failures and tokens."""

from __future__ import annotations

from typing import Any


def _model(backend: Any) -> str:
    transport = getattr(backend, "transport", None)
    config = getattr(transport, "cfg", None)
    return str(getattr(config, "model", None) or getattr(transport, "name", None) or getattr(backend, "name", "-"))


def usage_rows(roles: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per role, from each backend's `stats` (a rules backend counts calls and no tokens)."""
    rows = []
    for role, backend in roles.items():
        stats = backend.stats
        transport = getattr(backend, "transport", None)
        rows.append(
            {
                "role": role,
                "backend": getattr(transport, "backend", None) or getattr(backend, "backend", None) or "rules",
                "model": _model(backend),
                "reported_models": ", ".join(sorted(stats.reported_models)) or "-",
                "calls": stats.calls,
                "cache_hits": stats.cache_hits,
                "failures": stats.failures,
                "prompt_tokens": stats.prompt_tokens,
                "completion_tokens": stats.completion_tokens,
            }
        )
    return rows


def usage_line(rows: list[dict[str, Any]]) -> str:
    """One line for logs and summaries: tokens per role."""
    return "; ".join(
        f"{r['role']} {r['model']}: {r['calls']} calls, {r['cache_hits']} cached, "
        f"{r['prompt_tokens']} prompt + {r['completion_tokens']} completion tokens"
        for r in rows
    )
