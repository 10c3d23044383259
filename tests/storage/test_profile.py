"""The storage profile: chosen by environment variables in one place, with errors that name the variable and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import (
    ArtifactStore,
    Paths,
    StorageConfigError,
    StorageProfile,
    Warehouse,
    open_artifacts,
    open_checkpoints,
    open_warehouse,
    prefect_result_location,
)
from storage.profile import redact

_VARS = (
    "KNOWRL_ARTIFACTS_URL",
    "KNOWRL_WAREHOUSE_URL",
    "KNOWRL_LAKE_DATA_URL",
    "KNOWRL_WAREHOUSE_WAIT_S",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in _VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_nothing_set_is_the_local_profile_with_todays_layout(clean_env, tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    profile = StorageProfile.from_env()
    assert profile.name == "local" and profile.wait_s == 600
    warehouse = open_warehouse(paths)
    assert type(warehouse) is Warehouse and warehouse.path == tmp_path / "warehouse.duckdb"
    store = open_artifacts(paths)
    assert isinstance(store, ArtifactStore) and store.root == tmp_path / "artifacts" and store.remote_url is None
    assert not open_checkpoints(paths).enabled and open_checkpoints(paths).latest("run") is None
    assert open_checkpoints(paths).upload("run", tmp_path) is None
    assert prefect_result_location(paths) == str(tmp_path / "prefect-results")


def test_remote_urls_select_the_remote_profile(clean_env) -> None:
    clean_env.setenv("KNOWRL_ARTIFACTS_URL", "s3://bucket/knowrl/")
    clean_env.setenv("KNOWRL_WAREHOUSE_URL", "ducklake:postgres:dbname=knowrl host=db user=k")
    clean_env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    profile = StorageProfile.from_env()
    assert profile.name == "remote" and profile.artifacts_url == "s3://bucket/knowrl"
    assert profile.lake_data_url == "s3://bucket/knowrl/lake/"
    assert prefect_result_location(Paths(Path("/x")), profile=profile) == "s3://bucket/knowrl/prefect-results"
    options = profile.storage_options("s3://bucket/knowrl")
    assert options["client_kwargs"]["endpoint_url"] == "http://127.0.0.1:9000" and not options["use_listings_cache"]
    assert "key" not in options and "secret" not in options  # credentials stay in the environment
    mirror = open_checkpoints(Paths(Path("/x")), profile=profile)
    assert mirror.enabled and mirror.base_url == "s3://bucket/knowrl/checkpoints"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KNOWRL_ARTIFACTS_URL": "bucket/knowrl"}, "KNOWRL_ARTIFACTS_URL='bucket/knowrl' is not a URL"),
        ({"KNOWRL_WAREHOUSE_URL": "postgres://u:pw@h/db"}, "not a DuckLake catalog"),
        ({"KNOWRL_WAREHOUSE_URL": "ducklake:postgres:dbname=k"}, "set KNOWRL_LAKE_DATA_URL"),
        ({"KNOWRL_WAREHOUSE_WAIT_S": "-1"}, "KNOWRL_WAREHOUSE_WAIT_S='-1' is negative"),
        ({"AWS_ENDPOINT_URL": "127.0.0.1:9000"}, "needs a scheme"),
    ],
)
def test_bad_settings_name_the_variable_and_the_fix(clean_env, env: dict[str, str], message: str) -> None:
    for name, value in env.items():
        clean_env.setenv(name, value)
    with pytest.raises(StorageConfigError, match=message) as raised:
        StorageProfile.from_env()
    assert "pw" not in str(raised.value).replace("KNOWRL", "")


def test_redact_hides_passwords_and_secret_values() -> None:
    env = {"AWS_SECRET_ACCESS_KEY": "s3cr3t-value", "PGPASSWORD": "pgpw-value"}
    text = "dbname=k password=hunter2 host=h; postgresql://me:pw123@h/db; key s3cr3t-value and pgpw-value"
    cleaned = redact(text, env)
    for secret in ("hunter2", "pw123", "s3cr3t-value", "pgpw-value"):
        assert secret not in cleaned
    assert "dbname=k" in cleaned and "postgresql://me:***@h/db" in cleaned
