"""The storage profile: where artifacts, checkpoints, Prefect results and the warehouse live, chosen in one place.

Two profiles, the same code. **local** (nothing below set): `KNOWRL_HOME` holds everything, the warehouse is one
DuckDB file, one writer at a time (the others wait). **remote** (`KNOWRL_ARTIFACTS_URL` and/or
`KNOWRL_WAREHOUSE_URL` set): workers that share no disk; artifacts, checkpoints and Prefect results live under an
fsspec URL such as `s3://bucket/knowrl`, the warehouse is DuckLake (catalog in PostgreSQL, data files in the object
store) that many machines write at once, and `KNOWRL_HOME` is only a local cache, safe to delete.

| variable | meaning | unset |
| --- | --- | --- |
| `KNOWRL_HOME` | local root: everything (local), a disposable cache (remote) | `./.knowrl` |
| `KNOWRL_ARTIFACTS_URL` | fsspec URL of artifacts, checkpoints, Prefect results, e.g. `s3://bucket/knowrl` | local |
| `KNOWRL_WAREHOUSE_URL` | DuckLake catalog, `ducklake:postgres:dbname=knowrl host=db user=knowrl` | local file |
| `KNOWRL_LAKE_DATA_URL` | where DuckLake writes its Parquet files | `<artifacts url>/lake/` |
| `KNOWRL_WAREHOUSE_WAIT_S` | seconds a writer waits for the local file lock / retries lake conflicts | `600` |
| `KNOWRL_S3_CONCURRENCY` | parallel parts per file in S3 transfers | `8` |
| `KNOWRL_S3_PART_MB` | part size of S3 multipart transfers, in MB | `32` |
| `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` | S3 credentials | none |
| `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`) | S3-compatible endpoint (MinIO, Ceph, R2, moto) | AWS |
| `AWS_REGION` (or `AWS_DEFAULT_REGION`) | the bucket's region | `us-east-1` |
| `PGPASSWORD` (and libpq's other `PG*` variables) | the catalog's password, kept out of the URL | none |

Layout under `KNOWRL_ARTIFACTS_URL`: `<stage>/<artifact id>/` (artifacts), `checkpoints/<run key>/<checkpoint>/`,
`prefect-results/`, `lake/` (DuckLake data, unless `KNOWRL_LAKE_DATA_URL` says otherwise). s3fs reads the AWS
variables itself; the lake gets an in-memory DuckDB S3 secret made from them, and path-style addressing when an
endpoint is set. libpq reads `PGPASSWORD`: a password inside `KNOWRL_WAREHOUSE_URL` works but is discouraged.

Secrets are read from the environment only when a connection is made; they are never logged, never written to a
manifest, a warehouse row or a file, and error messages pass through `redact` first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from storage.errors import KnowrlError

DEFAULT_WAIT_S = 600.0
DEFAULT_S3_CONCURRENCY = 8
DEFAULT_S3_PART_MB = 32
_SECRET_VARS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PGPASSWORD")


class StorageConfigError(KnowrlError, ValueError):
    """A storage environment variable has a value the pipeline cannot use."""


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`text` with passwords of connection strings and the values of secret variables replaced by `***`."""
    env = os.environ if environ is None else environ
    text = re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", text, flags=re.IGNORECASE)
    text = re.sub(r"(\w+://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)
    for name in _SECRET_VARS:
        value = env.get(name)
        if value and len(value) >= 4:  # a 1-3 character "secret" would redact ordinary words
            text = text.replace(value, "***")
    return text


def _float_env(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise StorageConfigError(f"{name}={raw!r} is not a number of seconds; set it to e.g. 600") from None
    if value < 0:
        raise StorageConfigError(f"{name}={raw!r} is negative; set it to 0 (fail at once) or more seconds")
    return value


def _int_env(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise StorageConfigError(f"{name}={raw!r} is not an integer; unset it or set e.g. {default}") from None
    if value < 1:
        raise StorageConfigError(f"{name}={raw!r} must be at least 1; unset it or set e.g. {default}")
    return value


def wait_seconds_from_env(environ: Mapping[str, str] | None = None) -> float:
    """`KNOWRL_WAREHOUSE_WAIT_S`, validated (default 600)."""
    return _float_env(os.environ if environ is None else environ, "KNOWRL_WAREHOUSE_WAIT_S", DEFAULT_WAIT_S)


def _join(url: str, *parts: str) -> str:
    return "/".join([url.rstrip("/"), *(p.strip("/") for p in parts)])


@dataclass(frozen=True)
class S3Settings:
    """Where S3 is and how to move data there; credentials are not kept here, they are read when needed."""

    endpoint_url: str | None = None
    region: str | None = None
    concurrency: int = DEFAULT_S3_CONCURRENCY
    part_mb: int = DEFAULT_S3_PART_MB

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> S3Settings:
        endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None
        if endpoint and not re.match(r"^https?://", endpoint):
            raise StorageConfigError(
                f"AWS_ENDPOINT_URL={endpoint!r} needs a scheme; set it to e.g. http://127.0.0.1:9000 or https://{endpoint}"
            )
        return cls(
            endpoint_url=endpoint,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            concurrency=_int_env(env, "KNOWRL_S3_CONCURRENCY", DEFAULT_S3_CONCURRENCY),
            part_mb=_int_env(env, "KNOWRL_S3_PART_MB", DEFAULT_S3_PART_MB),
        )


@dataclass(frozen=True)
class StorageProfile:
    """The storage chosen by the environment; build one with `from_env` and pass it to the factories."""

    artifacts_url: str | None = None
    warehouse_url: str | None = None
    lake_data_url: str | None = None
    wait_s: float = DEFAULT_WAIT_S
    s3: S3Settings = field(default_factory=S3Settings)

    @property
    def name(self) -> str:
        return "remote" if self.artifacts_url or self.warehouse_url else "local"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StorageProfile:
        env = os.environ if environ is None else environ
        artifacts = (env.get("KNOWRL_ARTIFACTS_URL") or "").strip() or None
        warehouse = (env.get("KNOWRL_WAREHOUSE_URL") or "").strip() or None
        lake_data = (env.get("KNOWRL_LAKE_DATA_URL") or "").strip() or None
        if artifacts is not None and "://" not in artifacts:
            raise StorageConfigError(
                f"KNOWRL_ARTIFACTS_URL={artifacts!r} is not a URL; set e.g. s3://bucket/knowrl "
                "(or unset it to keep artifacts under KNOWRL_HOME)"
            )
        if warehouse is not None:
            if not warehouse.startswith("ducklake:"):
                raise StorageConfigError(
                    f"KNOWRL_WAREHOUSE_URL={redact(warehouse, env)!r} is not a DuckLake catalog; set e.g. "
                    "'ducklake:postgres:dbname=knowrl host=db.example user=knowrl' "
                    "(or unset it to use KNOWRL_HOME/warehouse.duckdb)"
                )
            if lake_data is None:
                if artifacts is None:
                    raise StorageConfigError(
                        "KNOWRL_WAREHOUSE_URL is set but the lake has nowhere to write its data files: "
                        "set KNOWRL_LAKE_DATA_URL (e.g. s3://bucket/knowrl/lake/) or KNOWRL_ARTIFACTS_URL"
                    )
                lake_data = _join(artifacts, "lake") + "/"
        return cls(
            artifacts_url=artifacts.rstrip("/") if artifacts else None,
            warehouse_url=warehouse,
            lake_data_url=lake_data,
            wait_s=_float_env(env, "KNOWRL_WAREHOUSE_WAIT_S", DEFAULT_WAIT_S),
            s3=S3Settings.from_env(env),
        )

    def storage_options(self, url: str) -> dict[str, Any]:
        """fsspec options for `url`: for S3 the endpoint, region and transfer sizes; credentials stay in the env."""
        if not url.startswith(("s3://", "s3a://")):
            return {}
        client_kwargs: dict[str, Any] = {}
        if self.s3.endpoint_url:
            client_kwargs["endpoint_url"] = self.s3.endpoint_url
        if self.s3.region:
            client_kwargs["region_name"] = self.s3.region
        return {
            "client_kwargs": client_kwargs,
            # botocore >= 1.36 adds CRC checksum headers to every upload, which several S3-compatible stores
            # reject; only send them where the API requires. Content is verified against manifests instead.
            "config_kwargs": {
                "request_checksum_calculation": "when_required",
                "response_checksum_validation": "when_required",
            },
            # Another machine may add objects at any time: never answer "absent" from a stale listing.
            "use_listings_cache": False,
            "default_block_size": self.s3.part_mb * 2**20,
            "max_concurrency": self.s3.concurrency,
        }
