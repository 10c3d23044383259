"""What the data stage shows in the orchestrator: counts per set and the quarantine's reasons."""

from __future__ import annotations

from knowrl.data.result import DataRef
from knowrl.pipeline.report import md_table
from knowrl.pipeline.runtime import StageContext
from knowrl.pipeline.spec import StageReport


def data_report(ref: DataRef, ctx: StageContext) -> StageReport:
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
    return StageReport(f"# Data\n\n{md_table(rows)}\n\n## Quarantine reasons\n\n{md_table(reasons)}\n")
