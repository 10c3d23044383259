"""The one place that turns the storage profile (storage/profile.py) into stores; the rest of the code calls these."""

from __future__ import annotations

from storage.artifacts import ArtifactStore
from storage.checkpoints import CheckpointMirror
from storage.paths import Paths
from storage.profile import StorageProfile
from storage.remote import UploadProgress
from storage.warehouse import Warehouse


def open_warehouse(paths: Paths, *, read_only: bool = False, profile: StorageProfile | None = None) -> Warehouse:
    """The warehouse of the profile: DuckLake when KNOWRL_WAREHOUSE_URL is set, else `paths.warehouse`.

    `read_only=True` never creates a warehouse (a misspelt KNOWRL_HOME raises WarehouseNotFoundError) and never
    takes the local file's write lock: use it for status and reports.
    """
    profile = profile or StorageProfile.from_env()
    if profile.warehouse_url:
        from storage.lake import LakeWarehouse

        return LakeWarehouse(profile, read_only=read_only)
    return Warehouse(paths.warehouse, read_only=read_only, wait_s=profile.wait_s)


def open_artifacts(
    paths: Paths, *, profile: StorageProfile | None = None, upload_progress: UploadProgress | None = None
) -> ArtifactStore:
    """The artifact store: `paths.artifacts`, a cache of KNOWRL_ARTIFACTS_URL when that is set."""
    profile = profile or StorageProfile.from_env()
    url = profile.artifacts_url
    return ArtifactStore(
        paths.artifacts,
        url,
        storage_options=profile.storage_options(url) if url else None,
        upload_progress=upload_progress,
    )


def open_checkpoints(paths: Paths, *, profile: StorageProfile | None = None) -> CheckpointMirror:
    """Where training checkpoints are mirrored: `<KNOWRL_ARTIFACTS_URL>/checkpoints`, disabled in the local profile.

    `paths` is unused today (local checkpoints stay in `paths.runs`); it keeps the factories' signatures alike.
    """
    profile = profile or StorageProfile.from_env()
    url = profile.artifacts_url
    return CheckpointMirror(url, storage_options=profile.storage_options(url) if url else None)


def prefect_result_location(paths: Paths, *, profile: StorageProfile | None = None) -> str:
    """Where Prefect persists task results: a local directory, or `<KNOWRL_ARTIFACTS_URL>/prefect-results`.

    A local path can be passed to `result_storage` as a `Path`; a URL needs a fsspec-backed Prefect block,
    e.g. `prefect.filesystems.RemoteFileSystem(basepath=url)` (s3fs reads the AWS variables itself).
    """
    profile = profile or StorageProfile.from_env()
    if profile.artifacts_url:
        return f"{profile.artifacts_url}/prefect-results"
    return str(paths.prefect_results)
