"""Cache keys: a stage's key is the hash of its config, the fingerprints of the upstream results it reads, the code
version of its library packages and its outside inputs (`StageSpec.outside_inputs`). Change one and that stage
(and those after it) run again; change nothing and every stage is a cache hit.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from knowrl.hashing import stable_hash
from knowrl.pipeline.refs import StageRef
from knowrl.pipeline.spec import StageSelectionError, StageSpec


@cache
def code_version(spec: StageSpec) -> str:
    """A hash of the source of the stage's packages. Shared modules (config, storage) are left out on purpose:
    editing a docstring there should not retrain a 7B model."""
    digest = hashlib.sha256()
    for package in spec.packages:
        found = importlib.util.find_spec(package)
        if found is None or not found.submodule_search_locations:
            raise StageSelectionError(f"package {package} of stage {spec.name} is not importable")
        root = Path(next(iter(found.submodule_search_locations)))
        for path in sorted(root.rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def upstream_fingerprint(reference: str, ref: StageRef | None) -> str | None:
    """The fingerprint of what a stage reads of an upstream result: the whole result (`"sft"`) or one part of it
    (`"data:rl"`, the `rl` part's fingerprint)."""
    if ref is None:
        return None
    _, _, part = reference.partition(":")
    if not part:
        return ref.fingerprint
    value = getattr(ref, part)
    return value.fingerprint if value is not None else None


def cache_key(
    spec: StageSpec, config: BaseModel | Mapping[str, Any], upstream: Mapping[str, StageRef], outside: str = ""
) -> str:
    """Hash of (stage, config (the model, or its JSON form), upstream fingerprints, code version, outside inputs)."""
    fingerprints = {u: upstream_fingerprint(u, upstream.get(u.partition(":")[0])) for u in spec.upstream}
    payload: dict[str, Any] = {
        "stage": spec.name,
        "config": config.model_dump(mode="json") if isinstance(config, BaseModel) else dict(config),
        "upstream": {name.partition(":")[0]: fp for name, fp in fingerprints.items()},
        "code": code_version(spec),
        "extra": outside,
    }
    return f"knowrl-{spec.name}-{stable_hash(payload, 24)}"


def outside_inputs(spec: StageSpec, config: BaseModel) -> str:
    """What the stage's key holds beyond its config, upstream and code ("" for most stages)."""
    return spec.call("outside_inputs", config) if spec.outside_inputs else ""


def stage_key(spec: StageSpec, config: BaseModel, upstream: Mapping[str, StageRef]) -> str:
    """The key a run of the stage computes now: its outside inputs probed (a file hash, a Hub commit) once."""
    return cache_key(spec, config, upstream, outside_inputs(spec, config))
