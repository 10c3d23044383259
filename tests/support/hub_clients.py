"""Pointing huggingface_hub and datasets at a `LocalHubServer` (tests/support/hub_server.py): `point_clients_at(hub,
monkeypatch, cache_root)`, or the `local_hub` fixture (in a test module: `local_hub = hub_clients.local_hub`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.hub_server import LocalHubServer


def point_clients_at(hub: LocalHubServer, monkeypatch: pytest.MonkeyPatch, cache_root: Path) -> None:
    """Send huggingface_hub and datasets (already imported or not) to `hub`, online, with no token unless a test sets
    HF_TOKEN or passes one, and with their caches under `cache_root`.

    Both libraries read their settings once, at import: HF_ENDPOINT into `huggingface_hub.constants.ENDPOINT` and
    `HUGGINGFACE_CO_URL_TEMPLATE` (file URLs) and into `datasets.config.HF_ENDPOINT`/`HUB_DATASETS_URL`; offline mode
    into `HF_HUB_OFFLINE` of both (the `hub_offline` fixture sets it); the token file path; the cache folders. The
    environment is set too, for code that reads it at call time or in a subprocess. `datasets` also pings an S3
    bucket to count downloads: turned off here, so nothing leaves the machine."""
    import huggingface_hub.constants as hf_constants
    from huggingface_hub import HfFileSystem

    hub_cache = cache_root / "hub"
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE", "HUGGINGFACE_CO_STAGING"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")  # this server speaks LFS, not Xet
    monkeypatch.setenv("HF_UPDATE_DOWNLOAD_COUNTS", "0")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache_root / "datasets"))
    monkeypatch.setenv("HF_TOKEN_PATH", str(cache_root / "token"))

    monkeypatch.setattr(hf_constants, "ENDPOINT", hub.endpoint)
    monkeypatch.setattr(
        hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setattr(hf_constants, "HUGGINGFACE_HUB_CACHE", str(hub_cache))
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(cache_root / "token"))
    monkeypatch.setattr(hf_constants, "HF_STORED_TOKENS_PATH", str(cache_root / "stored_tokens"))
    monkeypatch.setattr(hf_constants, "AGENT_HARNESSES_PATH", str(cache_root / ".agent_harnesses.json"))
    monkeypatch.setattr(hf_constants, "HF_URL_HOSTS", hf_constants.HF_URL_HOSTS | {"127.0.0.1"})
    from huggingface_hub.utils import _http

    if hasattr(_http, "_HUB_ORIGINS"):
        monkeypatch.setattr(_http, "_HUB_ORIGINS", _http._HUB_ORIGINS | {_http._url_origin(hub.endpoint)})
    try:
        import datasets.config as ds_config
    except ImportError:
        pass
    else:
        monkeypatch.setattr(ds_config, "HF_ENDPOINT", hub.endpoint)
        monkeypatch.setattr(
            ds_config, "HUB_DATASETS_URL", hub.endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}"
        )
        monkeypatch.setattr(ds_config, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(ds_config, "HF_DATASETS_OFFLINE", False)
        monkeypatch.setattr(ds_config, "HF_UPDATE_DOWNLOAD_COUNTS", False)
        monkeypatch.setattr(ds_config, "HF_DATASETS_CACHE", cache_root / "datasets")
        monkeypatch.setattr(ds_config, "DOWNLOADED_DATASETS_PATH", cache_root / "datasets" / "downloads")
        monkeypatch.setattr(ds_config, "EXTRACTED_DATASETS_PATH", cache_root / "datasets" / "downloads" / "extracted")
    # fsspec keeps HfFileSystem instances (and their listings) per endpoint and token: start from none.
    HfFileSystem.clear_instance_cache()


@pytest.fixture
def local_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LocalHubServer]:
    """A running `LocalHubServer` with huggingface_hub and datasets pointed at it (online, no token, caches under
    tmp_path): the opposite of `hub_offline`. Register repos with `local_hub.add_dataset(...)`/`add_model(...)`."""
    from huggingface_hub import HfFileSystem

    with LocalHubServer() as hub:
        point_clients_at(hub, monkeypatch, tmp_path / "hf-cache")
        yield hub
    HfFileSystem.clear_instance_cache()
