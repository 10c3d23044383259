"""The stage registry: order, which library packages make up each stage's code version, and cache keys.

A stage's cache key is the hash of its config, its upstream stages' output fingerprints, and the code
version of the library packages it runs: change one and that stage (and those after it) run again.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from knowrl import STAGES
from knowrl.errors import ConfigError
from knowrl.pipeline.refs import DataRef, StageRef, ref_from_dict

# Packages whose source makes up each stage's behaviour. Shared modules (config, storage) are left
# out on purpose: editing a docstring there should not retrain a 7B model.
STAGE_PACKAGES: dict[str, tuple[str, ...]] = {
    "data": ("knowrl.data",),
    "knowledge": ("knowrl.knowledge",),
    "sft": ("knowrl.train", "knowrl.models"),
    "grpo": ("knowrl.train", "knowrl.models", "knowrl.rewards", "knowrl.judges"),
    "evaluate": ("knowrl.evaluate", "knowrl.judges"),
    "publish": ("knowrl.publish",),
}

UPSTREAM: dict[str, tuple[str, ...]] = {
    "data": (),
    "knowledge": ("data",),
    "sft": ("data",),
    "grpo": ("data", "knowledge", "sft"),
    "evaluate": ("sft", "grpo"),
    "publish": ("data", "sft", "grpo", "evaluate"),
}


class StageSelectionError(ConfigError):
    """`stages` or `from_stage` names something that is not a stage, or a needed result is missing."""


@cache
def code_version(stage: str) -> str:
    digest = hashlib.sha256()
    for package in STAGE_PACKAGES[stage]:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise StageSelectionError(f"package {package} of stage {stage} is not importable")
        root = Path(next(iter(spec.submodule_search_locations)))
        for path in sorted(root.rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


# Which part of the data stage each stage reads: new RL rows must not retrain SFT, and vice versa.
_DATA_PART = {"knowledge": "rl", "sft": "coldstart", "grpo": "rl"}


def input_fingerprint(stage: str, upstream_name: str, ref: StageRef | None) -> str | None:
    if ref is None:
        return None
    part = _DATA_PART.get(stage) if isinstance(ref, DataRef) else None
    if part:
        dataset = getattr(ref, part)
        return dataset.fingerprint if dataset else None
    return ref.fingerprint


def cache_key(
    stage: str, config: dict[str, Any], upstream: Mapping[str, StageRef | Mapping[str, Any]], extra: str = ""
) -> str:
    """Hash of (stage, config, upstream fingerprints, code version, extra input fingerprint). `upstream`: the
    upstream stages' results, typed or as their JSON (a task's parameters, a stored run)."""
    upstream_fps = {
        name: input_fingerprint(stage, name, ref_from_dict(name, upstream[name]) if upstream.get(name) else None)
        for name in UPSTREAM[stage]
    }
    payload = json.dumps(
        {"stage": stage, "config": config, "upstream": upstream_fps, "code": code_version(stage), "extra": extra},
        sort_keys=True,
        default=str,
    )
    return f"knowrl-{stage}-{hashlib.sha256(payload.encode()).hexdigest()[:24]}"


def key_inputs(stage: str, config: dict[str, Any]) -> str:
    """What a stage's cache key holds beyond its config, its upstream results and its code: the data sources as
    they are now (file hashes or the Hub commit: a new revision is new data), and whether publish's token is set
    (never the token: setting it later must re-run a publish that could not push). Empty for the other stages."""
    if stage == "data":
        from knowrl.config.stages import DataConfig
        from knowrl.data.stage import probe_sources

        return probe_sources(DataConfig.model_validate(config))
    if stage == "publish":
        return "token-set" if os.environ.get(config.get("token_env") or "HF_TOKEN") else "token-unset"
    return ""


def select_stages(stages: list[str] | None, from_stage: str | None) -> tuple[list[str], set[str]]:
    """Which stages run, and which of those must ignore their cache (from_stage onwards)."""
    for name in [*(stages or []), *([from_stage] if from_stage else [])]:
        if name not in STAGES:
            raise StageSelectionError(f"unknown stage {name!r}; stages are {', '.join(STAGES)}")
    selected = [s for s in STAGES if not stages or s in stages]
    refresh: set[str] = set()
    if from_stage:
        start = STAGES.index(from_stage)
        refresh = {s for s in STAGES[start:] if s in selected}
    return selected, refresh
