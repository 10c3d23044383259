"""Made-up stage results (refs) for tests of the kernel: valid, with the fingerprints a test chooses."""

from __future__ import annotations

from typing import Any


def dataset_part(fingerprint: str, **fields: Any) -> dict[str, Any]:
    counts = {"n_read": 3, "n_accepted": 3, "n_quarantined": 0, "n_train": 3, "n_heldout": 0}
    return {
        "fingerprint": fingerprint,
        "source": "rl.jsonl",
        "revision": None,
        "load_id": "load",
        "is_new_version": True,
        **counts,
        "quarantine_reasons": {},
        **fields,
    }


def made_up_ref(stage: str, fingerprint: str, *, rl: str = "rl", coldstart: str | None = "cs") -> dict[str, Any]:
    """The JSON of a valid result of `stage` (what a run records); a data result has parts `rl` and `coldstart`."""
    ref: dict[str, Any] = {"stage": stage, "fingerprint": fingerprint}
    if stage == "data":
        return {**ref, "rl": dataset_part(rl), "coldstart": dataset_part(coldstart) if coldstart else None}
    ref["artifact_id"] = fingerprint
    if stage == "curate":
        return {**ref, "enabled": True, "questions": 3, "kept": 2, "buckets": {"always_correct": 1, "sometimes": 2}}
    if stage == "knowledge":
        numbers = ("segments", "pages_indexed_now", "pages_total", "titles_needed", "titles_found", "titles_missing")
        return {
            **ref,
            "path": "store",
            "store_key": "key",
            "source": "kb",
            **dict.fromkeys(numbers, 1),
            "coverage": 1.0,
            "missing_examples": [],
            "questions": 1,
            "questions_without_titles": 0,
            "drop_questions_without_titles": False,
        }
    if stage in ("sft", "grpo"):
        ref.update(model_path="m/merged", adapter_path="m/adapter", run_key="run", metrics={})
        if stage == "grpo":
            ref.update(curves_png="curves.png", inputs={"rl": rl})
        return ref
    if stage == "evaluate":
        return {
            **ref,
            "report_path": "report.md",
            "chart_path": "grades.png",
            "comparison": {},
            "summary": "",
            "cache_hits": 0,
            "models": {},
        }
    return {
        **ref,
        "bundle_path": "bundle",
        "repo_id": "org/model",
        "pushed": False,
        "url": None,
        "tag": "t",
        "gate_violations": [],
    }
