"""Identity of a training run: the same config, inputs and code resume into the same run directory."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def run_key_for(stage: str, config: dict[str, Any], inputs: dict[str, str], code_version: str) -> str:
    payload = json.dumps({"config": config, "inputs": inputs, "code": code_version}, sort_keys=True)
    return f"{stage}-{hashlib.sha256(payload.encode()).hexdigest()[:16]}"
