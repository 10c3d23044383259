"""Servers for the remote storage profile's tests (moto S3, PostgreSQL), started once per session on loopback."""

from tests.support.storage_services import moto_s3, postgres_server, remote_profile

__all__ = ["moto_s3", "postgres_server", "remote_profile"]
