"""Everything that persists: the DuckDB warehouse, the artifact store and the paths under KNOWRL_HOME.

Nothing here imports prefect: the library and its tests run without an orchestrator.
"""

from storage.artifacts import Artifact, ArtifactCorruptError, ArtifactStore
from storage.paths import Paths
from storage.warehouse import Warehouse, WarehouseBusyError

__all__ = ["Artifact", "ArtifactCorruptError", "ArtifactStore", "Paths", "Warehouse", "WarehouseBusyError"]
