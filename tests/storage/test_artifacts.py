"""The artifact store's contract, on a local root and on remote URLs (a shared directory, and S3 on moto)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from storage import ArtifactCorruptError, ArtifactNotFoundError, ArtifactStore, Paths, open_artifacts
from storage.artifacts import TMP_DIR, temp_name
from tests.support.storage_workers import artifact_files, run_together

REPO = Path(__file__).resolve().parents[2]


def _build(text: str):
    def build(directory: Path) -> None:
        (directory / "weights.bin").write_text(text)
        (directory / "sub").mkdir()
        (directory / "sub" / "config.json").write_text("{}")

    return build


@pytest.fixture(params=["local", "shared-dir", "s3"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path):
    """`make_store(name)`: a store with its own local root (another machine's cache) on the same backend."""
    if request.param == "local":
        remote = None
    elif request.param == "shared-dir":
        remote = (tmp_path / "shared").as_uri()
    else:
        remote = request.getfixturevalue("remote_profile").artifacts_url

    def make(name: str = "a") -> ArtifactStore:
        if remote is None:
            return ArtifactStore(tmp_path / "local")  # the local profile: one root for every reader
        return (
            open_artifacts(Paths(tmp_path / f"machine-{name}"))
            if remote.startswith("s3")
            else ArtifactStore(tmp_path / f"machine-{name}" / "artifacts", remote)
        )

    make.remote = remote
    return make


def test_write_is_content_addressed_and_verified(make_store) -> None:
    store = make_store()
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
    assert not list((store.root / TMP_DIR).iterdir())
    assert {x.artifact_id for x in store.list("sft")} == {a.artifact_id, c.artifact_id}


def test_another_machine_downloads_into_an_empty_cache(make_store) -> None:
    if make_store.remote is None:
        pytest.skip("the local profile has one root: there is no other cache to fill")
    written = make_store("writer").write("sft", _build("abc"), metrics={"loss": 1})
    reader = make_store("reader")
    assert not reader.root.exists() or not any(reader.root.iterdir())
    opened = reader.open(written.artifact_id, stage="sft")
    assert opened.path.is_relative_to(reader.root) and (opened.path / "weights.bin").read_text() == "abc"
    assert opened.manifest["metrics"] == {"loss": 1}
    assert reader.find(written.artifact_id) == opened.path  # no stage given: found in the cache now
    assert [x.artifact_id for x in make_store("third").list("sft")] == [written.artifact_id]
    assert make_store("fourth").open(written.artifact_id).artifact_id == written.artifact_id  # stage looked up
    with pytest.raises(ArtifactNotFoundError, match="re-run the stage"):
        reader.open("0" * 64, stage="sft")


def test_tampered_artifact_fails_verification(make_store) -> None:
    store = make_store()
    artifact = store.write("grpo", _build("abc"))
    (artifact.path / "weights.bin").write_text("tampered")
    if make_store.remote is None:
        with pytest.raises(ArtifactCorruptError, match="weights.bin"):
            store.open(artifact.artifact_id)
    else:
        # The local copy is only a cache: it is replaced by the verified remote one.
        assert (store.open(artifact.artifact_id).path / "weights.bin").read_text() == "abc"


def test_corrupted_remote_file_is_detected_on_download(make_store) -> None:
    if make_store.remote is None:
        pytest.skip("no remote copy in the local profile")
    import fsspec

    written = make_store("writer").write("sft", _build("abc"))
    fs, _ = fsspec.core.url_to_fs(make_store.remote)
    fs.pipe_file(f"{make_store.remote}/sft/{written.artifact_id}/weights.bin", b"bit rot")
    reader = make_store("reader")
    with pytest.raises(ArtifactCorruptError, match=r"weights\.bin") as raised:
        reader.open(written.artifact_id, stage="sft")
    assert make_store.remote.split("://")[1].split("/")[0] in str(raised.value)  # names where the bad copy is
    assert not (reader.root / "sft" / written.artifact_id).exists()  # nothing half-verified in the cache
    assert not list((reader.root / TMP_DIR).iterdir())


def test_failed_build_leaves_nothing_that_looks_whole(make_store) -> None:
    store = make_store()

    def crash(directory: Path) -> None:
        (directory / "half.bin").write_text("x")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        store.write("sft", crash)
    assert store.list("sft") == []
    assert not list((store.root / TMP_DIR).iterdir())


def test_reader_never_sees_a_partial_upload(make_store) -> None:
    if make_store.remote is None:
        pytest.skip("the local profile commits by rename: there is no upload to watch")
    files = artifact_files("atomic", 6, 50_000)
    reader = make_store("reader")
    seen_during_upload: list[str] = []

    def poll_after_each_file(name: str, done: int, total: int) -> None:
        # Called after each uploaded file, before the manifest: a reader on another machine must see nothing.
        with pytest.raises(ArtifactNotFoundError):
            reader.open(artifact_id, stage="sft")
        assert reader.list("sft") == []
        seen_during_upload.append(name)

    def build(directory: Path) -> None:
        for name, data in files.items():
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            (directory / name).write_bytes(data)

    # The id is the content hash: compute it first from a local-only store.
    artifact_id = ArtifactStore(reader.root.parent / "scratch").write("sft", build).artifact_id
    # A poller in another thread as well, to catch what a deterministic hook could not (e.g. listing order).
    stop = threading.Event()
    observed: list[str] = []

    def poll() -> None:
        other = make_store("poller")
        while not stop.is_set():
            try:
                art = other.open(artifact_id, stage="sft")
                observed.append("complete" if set(art.manifest["files"]) == set(files) else "partial")
            except ArtifactNotFoundError:
                observed.append("absent")

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        writer = make_store("writer")
        writer.upload_progress = poll_after_each_file
        written = writer.write("sft", build)
    finally:
        stop.set()
        poller.join(120)
    assert written.artifact_id == artifact_id and len(seen_during_upload) == len(files)
    assert "partial" not in observed
    assert reader.open(artifact_id, stage="sft").manifest["files"] == written.manifest["files"]


def test_two_processes_writing_the_same_artifact_both_succeed(make_store, tmp_path: Path) -> None:
    if make_store.remote is None or not make_store.remote.startswith("s3"):
        pytest.skip("the cross-process race is the object store's (the local rename race is the same code)")
    commands = [
        ["write-artifact", str(tmp_path / f"w{i}"), "same-seed", "--files", "8", "--size", "200000"] for i in range(2)
    ]
    results = run_together(commands, tmp_path / "go", REPO, timeout=300)
    ids = {r["artifact_id"] for r in results}
    assert len(ids) == 1
    artifact = make_store("reader").open(ids.pop(), stage="sft")
    assert set(artifact.manifest["files"]) == set(artifact_files("same-seed", 8, 200_000))


def test_temporaries_of_exited_processes_are_swept_on_open(tmp_path: Path) -> None:
    tmp = tmp_path / TMP_DIR
    tmp.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    crashed = tmp / temp_name("sft").replace(f".{os.getpid()}.", f".{dead_pid}.")
    crashed.mkdir()
    (crashed / "half.bin").write_text("x")
    ours = tmp / temp_name("sft")  # this process is alive: its build may be in progress
    ours.mkdir()
    foreign = tmp / "push-1234"  # not our naming: never guessed at
    foreign.mkdir()
    ArtifactStore(tmp_path)
    assert not crashed.exists() and ours.exists() and foreign.exists()
    with ArtifactStore(tmp_path).scratch_dir("push") as scratch:
        assert scratch.parent == tmp and str(os.getpid()) in scratch.name
    assert not scratch.exists()
    shutil.rmtree(ours)


def test_an_artifact_committed_before_the_remote_existed_is_uploaded_from_fresh_bytes(make_store) -> None:
    if make_store.remote is None:
        pytest.skip("no remote copy in the local profile")
    writer = make_store("writer")
    offline = ArtifactStore(writer.root).write("sft", _build("abc"))  # committed locally only (e.g. before a crash)
    (offline.path / "weights.bin").write_text("damaged in the cache")
    again = writer.write("sft", _build("abc"))  # the same content once more: this time it reaches the store
    assert again.artifact_id == offline.artifact_id
    assert (make_store("reader").open(again.artifact_id, stage="sft").path / "weights.bin").read_text() == "abc"
