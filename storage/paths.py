"""The one root directory that holds everything the pipeline writes (KNOWRL_HOME)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = ".knowrl"


@dataclass(frozen=True)
class Paths:
    """Locations under KNOWRL_HOME; nothing in the pipeline writes outside `root`.

    In the remote storage profile (storage/profile.py) the warehouse, artifacts and results live elsewhere and
    `root` is only a local cache (downloaded artifacts, run directories): safe to delete between runs.
    """

    root: Path

    @classmethod
    def from_env(cls, home: str | os.PathLike[str] | None = None) -> Paths:
        """Resolve the root from the argument, else `$KNOWRL_HOME`, else `./.knowrl`."""
        chosen = home if home is not None else os.environ.get("KNOWRL_HOME", DEFAULT_HOME)
        return cls(Path(chosen).expanduser().resolve())

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def prefect_results(self) -> Path:
        return self.root / "prefect-results"

    @property
    def models(self) -> Path:
        """Locally built models (the demo's tiny model) and downloaded snapshots."""
        return self.root / "models"

    @property
    def runs(self) -> Path:
        """Working directories of training runs (checkpoints live here until promoted to artifacts)."""
        return self.root / "runs"

    def ensure(self) -> Paths:
        for directory in (self.root, self.artifacts, self.prefect_results, self.models, self.runs):
            directory.mkdir(parents=True, exist_ok=True)
        return self
