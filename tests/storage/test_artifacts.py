from __future__ import annotations

import json
from pathlib import Path

import pytest

from storage import ArtifactCorruptError, ArtifactStore


def _build(text: str):
    def build(directory: Path) -> None:
        (directory / "weights.bin").write_text(text)
        (directory / "sub").mkdir()
        (directory / "sub" / "config.json").write_text("{}")

    return build


def test_write_is_content_addressed_and_verified(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    a = store.write(
        "sft", _build("abc"), config={"lr": 1}, inputs={"data": "fp"}, code_version="v1", metrics={"loss": 1}
    )
    b = store.write("sft", _build("abc"), config={"lr": 2})
    c = store.write("sft", _build("abd"))
    assert a.artifact_id == b.artifact_id != c.artifact_id
    manifest = json.loads((a.path / "manifest.json").read_text())
    assert manifest["stage"] == "sft" and manifest["inputs"] == {"data": "fp"} and manifest["code_version"] == "v1"
    assert set(manifest["files"]) == {"weights.bin", "sub/config.json"} and "created_at" in manifest
    assert store.open(a.artifact_id).manifest["metrics"] == {"loss": 1}
    assert not list((tmp_path / ".tmp").iterdir())


def test_tampered_artifact_fails_verification(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    artifact = store.write("grpo", _build("abc"))
    (artifact.path / "weights.bin").write_text("tampered")
    with pytest.raises(ArtifactCorruptError, match="weights.bin"):
        store.open(artifact.artifact_id)


def test_failed_build_leaves_nothing_that_looks_whole(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)

    def crash(directory: Path) -> None:
        (directory / "half.bin").write_text("x")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        store.write("sft", crash)
    assert store.list("sft") == []
    assert not list((tmp_path / ".tmp").iterdir())
