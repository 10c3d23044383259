"""The one hashing helper: a short, stable hex id of a string or of any JSON-able value.

Cache keys, config hashes, run keys, judge-cache keys and item ids all go through `stable_hash`, so the same value
gets the same id in every process and on every machine. (File contents are hashed by storage/files.py, in chunks.)
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """`value` as JSON with sorted keys; anything JSON cannot hold (a Path, a datetime) as its str()."""
    return json.dumps(value, sort_keys=True, default=str)


def stable_hash(value: Any, length: int | None = 16) -> str:
    """The first `length` hex digits (all 64 with None) of the sha256 of `value`: a string as it is, anything else
    as its canonical JSON."""
    text = value if isinstance(value, str) else canonical_json(value)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return digest if length is None else digest[:length]
