"""What every stage receives: where to read and write, and how to report progress.

Tasks build one `StageContext` and pass it to the library; the library never looks up globals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from storage import ArtifactStore, Paths, Warehouse

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
    progress: Progress = _log_progress

    def __post_init__(self) -> None:
        self.paths.ensure()
        self.warehouse = Warehouse(self.paths.warehouse)
        self.artifacts = ArtifactStore(self.paths.artifacts)

    @classmethod
    def from_env(cls, progress: Progress | None = None) -> StageContext:
        return cls(Paths.from_env(), progress=progress or _log_progress)
