"""Training checkpoints that survive the worker: mirrored to `<artifacts url>/checkpoints/<run key>/<name>/`.

The training loop saves a checkpoint locally as today (and marks it complete); the caller then calls
`CheckpointMirror.upload(run_key, checkpoint_dir)`, which uploads the files first and the marker LAST, so a
checkpoint without its remote marker is never picked. A fresh worker resuming the run asks `latest(run_key)` and
`download(run_key, name, run_dir)` puts it back where the trainer looks for it, marker included.

In the local profile there is nothing to mirror: `enabled` is False, `upload` does nothing and `latest` is None
(the run directory under KNOWRL_HOME already holds the checkpoints).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

from storage.errors import KnowrlError
from storage.files import file_hashes, mismatched_files, sweep_temporaries, temp_name
from storage.remote import RemoteTree

log = logging.getLogger("knowrl.storage")

MARKER = "KNOWRL_COMPLETE"  # the same name knowrl/train/checkpoints.py gives its local marker
_STEP = re.compile(r"^checkpoint-(\d+)$")


class CheckpointNotFoundError(KnowrlError, LookupError):
    """The requested checkpoint has no complete remote copy."""


class CheckpointMirror:
    """Uploads completed checkpoints and finds the newest one a run can resume from."""

    def __init__(self, remote_url: str | None, *, storage_options: dict[str, Any] | None = None) -> None:
        self.remote = (
            RemoteTree(f"{remote_url.rstrip('/')}/checkpoints", storage_options=storage_options)
            if remote_url
            else None
        )

    @property
    def enabled(self) -> bool:
        return self.remote is not None

    @property
    def base_url(self) -> str | None:
        return self.remote.base_url if self.remote else None

    def __repr__(self) -> str:
        return f"CheckpointMirror({self.base_url!r})"

    def upload(self, run_key: str, checkpoint_dir: Path, *, keep: int | None = None) -> str | None:
        """Mirror one complete local checkpoint; returns its remote URL (None in the local profile).

        `keep` (optional) then deletes all but the newest `keep` remote checkpoints of the run, marker first.
        """
        if self.remote is None:
            return None
        checkpoint_dir = Path(checkpoint_dir)
        if not checkpoint_dir.is_dir():
            raise FileNotFoundError(f"checkpoint {checkpoint_dir} does not exist; pass a saved checkpoint directory")
        name = checkpoint_dir.name
        hashes = file_hashes(checkpoint_dir, leave_out=MARKER)
        local_marker = checkpoint_dir / MARKER
        marker = {"files": hashes, "local_marker": local_marker.read_text() if local_marker.exists() else ""}
        self.remote.put_tree(
            checkpoint_dir,
            sorted(hashes),
            run_key,
            name,
            marker=MARKER,
            marker_bytes=json.dumps(marker, sort_keys=True).encode(),
        )
        log.info("mirrored checkpoint %s of run %s (%d files) to %s", name, run_key, len(hashes), self.base_url)
        if keep is not None:
            self._prune(run_key, keep)
        return self.remote.url(run_key, name)

    def complete(self, run_key: str) -> list[str]:
        """Names of the run's checkpoints whose upload finished, oldest step first."""
        if self.remote is None:
            return []
        names = self.remote.marked(run_key, marker=MARKER)
        return sorted(names, key=lambda n: (int(m.group(1)), n) if (m := _STEP.match(n)) else (-1, n))

    def latest(self, run_key: str) -> str | None:
        """The newest complete remote checkpoint of the run (e.g. "checkpoint-40"), or None."""
        names = self.complete(run_key)
        return names[-1] if names else None

    def download(self, run_key: str, name: str, local_dir: Path) -> Path:
        """Fetch checkpoint `name` into `local_dir/name` (atomically, verified) and return that path."""
        if self.remote is None:
            raise CheckpointNotFoundError(
                f"no checkpoint mirror in the local profile (checkpoint {name} of run {run_key}); "
                "set KNOWRL_ARTIFACTS_URL to mirror checkpoints"
            )
        target = Path(local_dir) / name
        if (target / MARKER).exists():
            return target
        where = self.remote.url(run_key, name)
        try:
            marker = json.loads(self.remote.read_bytes(run_key, name, MARKER))
        except FileNotFoundError:
            raise CheckpointNotFoundError(
                f"checkpoint {name} of run {run_key} has no complete copy at {where}; "
                f"use one of {self.complete(run_key)} or start the run afresh"
            ) from None
        Path(local_dir).mkdir(parents=True, exist_ok=True)
        sweep_temporaries(Path(local_dir))  # downloads of ours that died midway
        tmp = Path(local_dir) / temp_name(f".{name}")
        tmp.mkdir()
        try:
            self.remote.get_tree(sorted(marker["files"]), run_key, name, into=tmp)
            bad = mismatched_files(tmp, marker["files"])
            if bad:
                raise CheckpointNotFoundError(
                    f"checkpoint {name} of run {run_key} at {where} does not match its marker (files: {bad[:5]}); "
                    "delete it remotely and resume from an older one"
                )
            (tmp / MARKER).write_text(marker.get("local_marker", ""))
            if target.exists():
                # An incomplete local copy (no marker): ours replaces it.
                shutil.rmtree(target)
            os.rename(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log.info("downloaded checkpoint %s of run %s into %s", name, run_key, target)
        return target

    def _prune(self, run_key: str, keep: int) -> None:
        if keep < 1:
            raise ValueError(f"keep={keep} would delete the checkpoint just uploaded; pass keep >= 1")
        assert self.remote is not None
        for name in self.complete(run_key)[:-keep]:
            self.remote.remove_tree(run_key, name, marker=MARKER)
