"""Prefect task of the data stage."""

from __future__ import annotations

from typing import Any

from knowrl.config.stages import DataConfig
from knowrl.data.stage import run_data_stage
from knowrl.pipeline.refs import DataRef
from tasks.common import finish, make_context, md_table, stage_task


@stage_task("data", retries=3)
def data_stage(config: DataConfig, upstream: dict[str, Any]) -> DataRef:
    ctx = make_context("data")
    ref = run_data_stage(config, ctx)
    parts = [(name, part) for name, part in (("rl", ref.rl), ("coldstart", ref.coldstart)) if part]
    rows = [
        {
            "set": name,
            "n_read": part.n_read,
            "n_accepted": part.n_accepted,
            "n_quarantined": part.n_quarantined,
            "n_train": part.n_train,
            "n_heldout": part.n_heldout,
            "fingerprint": part.fingerprint,
            "new version": part.is_new_version,
        }
        for name, part in parts
    ]
    reasons = [{"set": n, "reason": r, "rows": c} for n, part in parts for r, c in part.quarantine_reasons.items()]
    summary = f"# Data\n\n{md_table(rows)}\n\n## Quarantine reasons\n\n{md_table(reasons)}\n"
    return finish("data", ctx, config, upstream, ref, summary)
