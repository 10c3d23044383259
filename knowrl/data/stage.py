"""Run the data stage: resolve sources, validate every row, store accepted and quarantined rows."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from knowrl.data.config import DataConfig, DataRules
from knowrl.data.normalize import question_key
from knowrl.data.result import DataRef, DatasetPart
from knowrl.data.rules import RowRejected, clean_coldstart_row, clean_rl_row
from knowrl.data.sources import ResolvedSource, read_records, resolve_source, source_version
from knowrl.errors import DataQualityError
from knowrl.hashing import stable_hash
from knowrl.pipeline.runtime import StageContext
from storage.datasets import DatasetTables, LoadRecord, dumps_raw
from storage.stage_runs import StageRuns


def fingerprint_rows(rows: list[dict[str, Any]]) -> str:
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()[:16]


def assign_split(row_key: str, seed: int, heldout_fraction: float) -> str:
    """Deterministic by (seed, row content): the same row lands in the same split on every load."""
    bucket = int(stable_hash(f"{seed}:{row_key}", 8), 16) / 0xFFFFFFFF
    return "heldout" if bucket < heldout_fraction else "train"


def validate_rows(
    resolved: ResolvedSource,
    clean: Callable[[dict[str, Any], DataRules], dict[str, Any]],
    dedupe_field: str,
    rules: DataRules,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Accepted rows (with source_row) and quarantined rows (with reason); every row read is one or the other."""
    accepted: list[dict[str, Any]] = []
    quarantined: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    n_read = 0
    for record in read_records(resolved.files):
        n_read += 1
        if record.error:
            quarantined.append({"source_row": record.row, "reason": record.error, "raw": record.raw})
            continue
        try:
            row = clean(record.value, rules)
        except RowRejected as exc:
            quarantined.append({"source_row": record.row, "reason": str(exc), "raw": dumps_raw(record.value)})
            continue
        key = question_key(row[dedupe_field], rules.dedupe_key)
        if rules.dedupe_questions and key in seen:
            reason = f"duplicate question (same as row {seen[key]})"
            quarantined.append({"source_row": record.row, "reason": reason, "raw": dumps_raw(record.value)})
            continue
        seen.setdefault(key, record.row)
        accepted.append({"source_row": record.row, **row})
    return accepted, quarantined, n_read


def _load(
    kind: str,
    resolved: ResolvedSource,
    clean: Callable[[dict[str, Any], DataRules], dict[str, Any]],
    dedupe_field: str,
    cfg: DataConfig,
    tables: DatasetTables,
) -> DatasetPart:
    accepted, quarantined, n_read = validate_rows(resolved, clean, dedupe_field, cfg.rules)
    content = [{k: v for k, v in row.items() if k != "source_row"} for row in accepted]
    fingerprint = fingerprint_rows(content)
    rows = []
    for row, body in zip(accepted, content, strict=True):
        row_id = fingerprint_rows([body])
        rows.append({**row, "row_id": row_id, "split": assign_split(row_id, cfg.seed, cfg.heldout_fraction)})
    record = LoadRecord(
        kind=kind,
        source=resolved.source,
        revision=resolved.revision,
        source_fingerprint=resolved.source_fingerprint,
        fingerprint=fingerprint,
        config_hash=stable_hash(cfg.model_dump(mode="json")),
        n_read=n_read,
        n_accepted=len(accepted),
        n_quarantined=len(quarantined),
    )
    load_id, is_new = tables.record_load(record, rows, quarantined)
    splits = Counter(r["split"] for r in rows)
    return DatasetPart(
        fingerprint=fingerprint,
        source=resolved.source,
        revision=resolved.revision,
        load_id=load_id,
        is_new_version=is_new,
        n_read=n_read,
        n_accepted=len(accepted),
        n_quarantined=len(quarantined),
        n_train=splits.get("train", 0),
        n_heldout=splits.get("heldout", 0),
        quarantine_reasons=dict(Counter(q["reason"].split(" (")[0] for q in quarantined)),
    )


def _where(resolved: ResolvedSource) -> str:
    files = [str(f) for f in resolved.files]
    if not files:
        return resolved.source
    return ", ".join(files[:3]) + (f" (+{len(files) - 3} more files)" if len(files) > 3 else "")


def check_quality(kind: str, resolved: ResolvedSource, part: DatasetPart, min_share: float) -> None:
    """Fail the stage when a set is empty, has no accepted row, or too small an accepted share of its rows."""
    label = "RL" if kind == "rl" else "cold-start"
    key = f"data.{kind}_source"
    where = _where(resolved)
    n_read, n_accepted = part.n_read, part.n_accepted
    if n_read == 0:
        raise DataQualityError(f"{label} set {where} has no rows: point {key} at a file that holds rows")
    reasons = Counter(part.quarantine_reasons).most_common(3)
    top = "; ".join(f"{reason} ({count} rows)" for reason, count in reasons) or "none"
    counts = f"{n_accepted} of {n_read} rows accepted ({n_accepted / n_read:.0%}), {part.n_quarantined} quarantined"
    if n_accepted == 0:
        raise DataQualityError(
            f"no row of the {label} set {where} was accepted: {counts}; top quarantine reasons: {top}. "
            f"Fix the file (the quarantined rows are in the warehouse, load {part.load_id}) or relax data.rules"
        )
    if n_accepted / n_read < min_share:
        raise DataQualityError(
            f"too few rows of the {label} set {where} were accepted: {counts}, under "
            f"data.min_accepted_share={min_share}; top quarantine reasons: {top}. Fix the file (the quarantined "
            f"rows are in the warehouse, load {part.load_id}), relax data.rules, "
            "or lower data.min_accepted_share"
        )


def run_data_stage(cfg: DataConfig, upstream: dict[str, Any], ctx: StageContext) -> DataRef:
    """Load the RL set (and the cold-start set when configured) into the warehouse; return the stage's ref."""
    tables = DatasetTables(ctx.warehouse)
    cache_dir = ctx.paths.root / "hf-cache"
    ctx.progress(f"data: reading RL set from {cfg.rl_source}", 0.0)
    rl_source = resolve_source(cfg.rl_source, cfg.rl_file, cfg.revision, cache_dir, split=cfg.split)
    rl = _load("rl", rl_source, clean_rl_row, "question", cfg, tables)
    check_quality("rl", rl_source, rl, cfg.min_accepted_share)
    coldstart = None
    if cfg.coldstart_source:
        ctx.progress(f"data: reading cold-start set from {cfg.coldstart_source}", 0.5)
        cs_source = resolve_source(cfg.coldstart_source, cfg.coldstart_file, cfg.revision, cache_dir, split=cfg.split)
        coldstart = _load("coldstart", cs_source, clean_coldstart_row, "prompt", cfg, tables)
        check_quality("coldstart", cs_source, coldstart, cfg.min_accepted_share)
    fingerprint = stable_hash(f"{rl.fingerprint}:{coldstart.fingerprint if coldstart else None}")
    ctx.progress(
        f"data: RL {rl.n_accepted}/{rl.n_read} accepted, {rl.n_quarantined} quarantined"
        + (f"; cold-start {coldstart.n_accepted}/{coldstart.n_read}" if coldstart else ""),
        1.0,
    )
    return DataRef(fingerprint=fingerprint, rl=rl, coldstart=coldstart)


def probe_sources(cfg: DataConfig) -> str:
    """A cheap fingerprint of the sources as they are now (file hashes, or the Hub commit: no download) for cache
    keys; computed once per task run (the key function), not again when the stage records its run."""
    parts = [source_version(cfg.rl_source, cfg.rl_file, cfg.revision, cfg.split)]
    if cfg.coldstart_source:
        parts.append(source_version(cfg.coldstart_source, cfg.coldstart_file, cfg.revision, cfg.split))
    return ":".join(parts)


def already_trained_on(ref: DataRef, cfg: DataConfig, runs: StageRuns) -> str | None:
    """Scheduled retraining: why a run stops after this stage (its RL data is the version the last completed GRPO
    run trained on), or None. The data stage may be a cache hit, so the last training's inputs are compared."""
    if not cfg.stop_when_unchanged:
        return None
    last = runs.latest("grpo")
    if last is not None and last["ref"].get("inputs", {}).get("rl") == ref.rl.fingerprint:
        return f"data fingerprint {ref.rl.fingerprint} is unchanged: nothing to retrain"
    return None
