"""Everything that persists: the warehouse, the artifact store, checkpoints, and the paths under KNOWRL_HOME.

The storage profile (local or remote, storage/profile.py) is read from the environment in one place; the rest of
the code calls the factories `open_warehouse`, `open_artifacts`, `open_checkpoints` and `prefect_result_location`.
Nothing here imports prefect: the library and its tests run without an orchestrator.
"""

from storage.artifacts import Artifact, ArtifactCorruptError, ArtifactNotFoundError, ArtifactStore
from storage.checkpoints import CheckpointMirror, CheckpointNotFoundError
from storage.factories import open_artifacts, open_checkpoints, open_warehouse, prefect_result_location
from storage.paths import Paths
from storage.profile import StorageConfigError, StorageProfile
from storage.warehouse import (
    Warehouse,
    WarehouseBusyError,
    WarehouseError,
    WarehouseNotFoundError,
    WarehouseVersionError,
)

__all__ = [
    "Artifact",
    "ArtifactCorruptError",
    "ArtifactNotFoundError",
    "ArtifactStore",
    "CheckpointMirror",
    "CheckpointNotFoundError",
    "Paths",
    "StorageConfigError",
    "StorageProfile",
    "Warehouse",
    "WarehouseBusyError",
    "WarehouseError",
    "WarehouseNotFoundError",
    "WarehouseVersionError",
    "open_artifacts",
    "open_checkpoints",
    "open_warehouse",
    "prefect_result_location",
]
