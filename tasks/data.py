"""Prefect task of the data stage."""

from __future__ import annotations

from typing import Any

from prefect import task

from knowrl.config.stages import DataConfig
from knowrl.data.stage import run_data_stage
from knowrl.stages import key_inputs
from storage import Paths
from tasks.common import RETRY_DELAYS, finish, key_fn, make_context, md_table, retry_on_io


def _source_fingerprint(config: dict[str, Any]) -> str:
    return key_inputs("data", config, Paths.from_env())


@task(
    name="data",
    cache_key_fn=key_fn("data", _source_fingerprint),
    persist_result=True,
    retries=3,
    retry_delay_seconds=RETRY_DELAYS,
    retry_condition_fn=retry_on_io,
)
def data_stage(config: dict[str, Any], upstream: dict[str, Any]) -> dict[str, Any]:
    ctx = make_context("data")
    ref = run_data_stage(DataConfig.model_validate(config), ctx)
    rows = [
        {
            "set": name,
            **{k: part[k] for k in ("n_read", "n_accepted", "n_quarantined", "n_train", "n_heldout")},
            "fingerprint": part["fingerprint"],
            "new version": part["is_new_version"],
        }
        for name, part in (("rl", ref["rl"]), ("coldstart", ref["coldstart"]))
        if part
    ]
    reasons = [
        {"set": n, "reason": r, "rows": c}
        for n in ("rl", "coldstart")
        for r, c in ((ref[n] or {}).get("quarantine_reasons") or {}).items()
    ]
    summary = f"# Data\n\n{md_table(rows)}\n\n## Quarantine reasons\n\n{md_table(reasons)}\n"
    return finish("data", ctx, config, upstream, ref, summary, _source_fingerprint(config))
