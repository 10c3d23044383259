"""Child processes for the storage tests: other workers writing the same store at the same time.

Run as `python -m tests.support.storage_workers COMMAND ...` from the repository root; the storage profile comes
from the environment, as on a real worker. A start barrier (`--go FILE`: wait until FILE exists) makes several
workers begin together without relying on sleeps.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path


def _wait_for(go: str | None) -> None:
    if go is None:
        return
    deadline = time.monotonic() + 120
    while not Path(go).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"start barrier {go} never appeared")
        time.sleep(0.01)


def run_together(commands: list[list[str]], go: Path, cwd: Path, timeout: float) -> list[dict]:
    """Start one worker per command (each waits on the barrier file `go`), release them together, and return the
    JSON object each printed last; a worker that failed fails the test with the end of its stderr."""
    import os
    import subprocess

    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.support.storage_workers", *command, "--go", str(go)],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for command in commands
    ]
    go.touch()
    outputs = [w.communicate(timeout=timeout) for w in workers]
    failed = [err[-3000:] for w, (_, err) in zip(workers, outputs, strict=True) if w.returncode != 0]
    assert not failed, failed
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]


def artifact_files(seed: str, n_files: int, size: int) -> dict[str, bytes]:
    """Deterministic content: the same seed gives the same artifact in every process."""
    import hashlib

    files = {}
    for i in range(n_files):
        block = hashlib.sha256(f"{seed}-{i}".encode()).digest()
        files[f"part-{i:03d}.bin" if i else "sub/config.json"] = (block * (size // len(block) + 1))[:size]
    return files


def write_artifact(args: argparse.Namespace) -> None:
    from storage import Paths, open_artifacts

    store = open_artifacts(Paths(Path(args.home)))
    files = artifact_files(args.seed, args.files, args.size)

    def build(directory: Path) -> None:
        for name, data in files.items():
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            (directory / name).write_bytes(data)

    _wait_for(args.go)
    artifact = store.write("sft", build, config={"seed": args.seed})
    print(json.dumps({"artifact_id": artifact.artifact_id}), flush=True)


def lake_writer(args: argparse.Namespace) -> None:
    """One worker's share of a busy warehouse: its own rows, plus registrations every worker makes."""
    from storage import Paths, open_warehouse
    from storage.datasets import DatasetTables, LoadRecord
    from storage.knowledge import KnowledgeTables
    from storage.llm_cache import LLMCache
    from storage.training_logs import TrainingLogs

    warehouse = open_warehouse(Paths(Path(args.home)))
    warehouse.schema_version()  # attach and migrate before the barrier: the writes are what should overlap
    _wait_for(args.go)
    worker = args.worker
    logs = TrainingLogs(warehouse)
    cache = LLMCache(warehouse)
    for step in range(args.steps):
        logs.append_many(f"run-{worker}", "grpo", [(step, {"loss": float(step), "reward": 0.5})])
        cache.put_many("http", "judge", {f"shared-{step}": "same answer", f"own-{worker}-{step}": f"w{worker}"})
    KnowledgeTables(warehouse).add_segment(
        "store-1",
        "segment-shared",
        [{"title_key": "paris", "title": "Paris", "n_passages": 2, "source": "kb"}],
        [{"title_key": "paris", "passage_idx": i, "text": f"passage {i}"} for i in range(2)],
        ["paris"],
        [],
    )
    record = LoadRecord("rl", "demo", None, "src-fp", "fp-shared", "cfg", 2, 2, 0)
    rows = [
        {"row_id": f"r{i}", "source_row": i, "question": "q", "answers": ["a"], "titles": ["Paris"], "split": "train"}
        for i in range(2)
    ]
    _, new = DatasetTables(warehouse).record_load(record, rows, [])
    print(json.dumps({"worker": worker, "new_version": new}), flush=True)


def hold_lock(args: argparse.Namespace) -> None:
    """Hold the DuckDB file's write lock until a line arrives on stdin (or until killed)."""
    import duckdb

    con = duckdb.connect(args.path)
    print("locked", flush=True)
    sys.stdin.readline()
    con.close()
    print("released", flush=True)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    parser = argparse.ArgumentParser(prog="storage_workers")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("write-artifact")
    p.add_argument("home")
    p.add_argument("seed")
    p.add_argument("--files", type=int, default=5)
    p.add_argument("--size", type=int, default=100_000)
    p.add_argument("--go")
    p.set_defaults(run=write_artifact)
    p = sub.add_parser("lake-writer")
    p.add_argument("home")
    p.add_argument("worker", type=int)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--go")
    p.set_defaults(run=lake_writer)
    p = sub.add_parser("hold-lock")
    p.add_argument("path")
    p.set_defaults(run=hold_lock)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
