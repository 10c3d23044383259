"""What every stage receives: where to read and write, and how to report progress.

Tasks build one `StageContext` and pass it to the library; the library never looks up globals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from storage import ArtifactStore, CheckpointMirror, Paths, Warehouse, open_artifacts, open_checkpoints, open_warehouse

Progress = Callable[[str, float | None], None]

log = logging.getLogger("knowrl")


def _log_progress(message: str, fraction: float | None) -> None:
    suffix = f" ({fraction:.0%})" if fraction is not None else ""
    log.info("%s%s", message, suffix)


@dataclass
class StageContext:
    paths: Paths
    warehouse: Warehouse = field(init=False)
    artifacts: ArtifactStore = field(init=False)
    checkpoints: CheckpointMirror = field(init=False)
    progress: Progress = _log_progress

    def __post_init__(self) -> None:
        # The storage profile (local, or object storage + DuckLake) comes from the environment: storage/profile.py.
        self.paths.ensure()
        self.warehouse = open_warehouse(self.paths)
        self.artifacts = open_artifacts(self.paths)
        self.checkpoints = open_checkpoints(self.paths)

    @classmethod
    def from_env(cls, progress: Progress | None = None) -> StageContext:
        return cls(Paths.from_env(), progress=progress or _log_progress)
