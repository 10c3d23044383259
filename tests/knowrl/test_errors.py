"""A full disk, in the words of the OS, torch, safetensors or DuckDB, is one permanent error naming the path."""

from __future__ import annotations

import errno

import duckdb
import pytest
from safetensors import SafetensorError

from knowrl.errors import as_disk_full, disk_full_as_oserror, disk_full_message, is_transient
from storage.warehouse import disk_full_error

TORCH_SHORT_WRITE = "[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534"
TORCH_WRITE_FAILED = "PytorchStreamWriter failed writing file data/0: file write failed"
SAFETENSORS_FULL = "Error while serializing: I/O error: No space left on device (os error 28)"


@pytest.mark.parametrize(
    "exc",
    [RuntimeError(TORCH_SHORT_WRITE), RuntimeError(TORCH_WRITE_FAILED), SafetensorError(SAFETENSORS_FULL)],
    ids=["torch-unexpected-pos", "torch-file-write-failed", "safetensors"],
)
def test_library_words_for_a_full_disk_become_enospc_naming_the_path(exc: Exception, tmp_path) -> None:
    full = as_disk_full(exc, tmp_path / "run")
    assert full is not None and full.errno == errno.ENOSPC and full.filename == str(tmp_path / "run")
    assert not is_transient(full)
    message = disk_full_message(full)
    assert str(tmp_path / "run") in message and "MiB free" in message and "\n" not in message


def test_other_errors_pass_through_unchanged(tmp_path) -> None:
    assert as_disk_full(RuntimeError("CUDA out of memory"), tmp_path) is None
    assert as_disk_full(ValueError("No space left on device"), tmp_path) is None  # not a writer's error type
    with pytest.raises(RuntimeError, match="out of memory"), disk_full_as_oserror(tmp_path):
        raise RuntimeError("CUDA out of memory")
    with pytest.raises(OSError) as caught, disk_full_as_oserror(tmp_path):
        raise RuntimeError(TORCH_SHORT_WRITE)
    assert caught.value.errno == errno.ENOSPC and isinstance(caught.value.__cause__, RuntimeError)


def test_duckdb_full_disk_becomes_enospc_naming_the_warehouse(tmp_path) -> None:
    commit = duckdb.TransactionException(
        'TransactionContext Error: Failed to commit: Could not write file "x.wal": No space left on device'
    )
    full = disk_full_error(commit, tmp_path / "warehouse.duckdb")
    assert full is not None and full.errno == errno.ENOSPC and full.filename == str(tmp_path / "warehouse.duckdb")
    assert disk_full_error(duckdb.IOException("Could not set lock on file"), tmp_path) is None
