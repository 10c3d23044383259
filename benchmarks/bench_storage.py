"""Storage benchmark: S3 transfer throughput, and what the remote profile costs a demo run's stages.

All parts run against servers this script starts on loopback and stops by PID (knowrl_cli/local_services.py):
moto's S3 API and a PostgreSQL server from the pgserver wheel. Loopback moto is a stand-in for a real object store:
the figures measure our client path (s3fs multipart settings, hashing, the commit protocol), not a network.

1. Throughput: one artifact holding a single file of `--size-mb` MB (default 500, random bytes). `upload_mb_s` is
   the upload of the committed artifact (files, then manifest; `ArtifactStore._upload`, i.e. s3fs multipart with
   KNOWRL_S3_PART_MB / KNOWRL_S3_CONCURRENCY); `write_mb_s` the whole `commit_directory` (hashing + local commit +
   upload); `download_mb_s` is `open()` on another machine's empty cache: download into a temporary directory,
   SHA-256 of every byte against the manifest, rename into the cache. `server_ceiling_*` moves the same file with
   boto3's own managed transfer (no hashing, no commit protocol): the loopback server's own limit on this machine.

2. The demo under both profiles (`demo_remote_over_local`, the issue's target of <= 1.3x end to end): `knowrl demo`
   run for real, once with the local profile (one DuckDB file, one artifact folder) and once with the remote one
   (S3 + DuckLake, a fresh bucket and database), each in a fresh process on a fresh KNOWRL_HOME, in this run. Per
   stage: the time between consecutive `stage_runs.finished_at` (the data stage's includes the flow's start).
   `--demo-set` passes overrides (e.g. `--demo-set grpo.max_steps=8` for a quicker run); `--no-demo` skips it.

3. Storage operations only (`replay_remote_over_local`): the storage operations a demo run performs, with the
   demo's sizes (counted from a demo run's KNOWRL_HOME: artifacts of 15-30 files, 20 KB to 6.5 MB; 65 + 53 data
   rows; 15 pages and 46 passages; 89 curated questions; ~1.9k training-log rows; 255 evaluation items), stage by
   stage, each stage as a fresh worker (new store objects, new attach; in the remote profile an empty cache, so
   inputs are downloaded as on a machine that did not produce them), under both profiles. It isolates what the
   profile costs: a real stage adds its compute (seconds to hours) to both sides, which part 2 includes.

Usage: `python benchmarks/bench_storage.py [--size-mb 500] [--repeats 1] [--no-demo] [--demo-set k=v ...]`;
`--smoke` (CI): an 8 MB artifact and the replay, no demo runs, in seconds.
The last printed line is one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from knowrl.registry import REGISTRY  # noqa: E402
from storage import Paths, StorageProfile, open_artifacts, open_warehouse  # noqa: E402
from storage.curation import CurationTables  # noqa: E402
from storage.datasets import DatasetTables, LoadRecord  # noqa: E402
from storage.evaluations import EvalTables  # noqa: E402
from storage.knowledge import KnowledgeTables  # noqa: E402
from storage.lake import close_attached  # noqa: E402
from storage.llm_cache import LLMCache  # noqa: E402
from storage.publications import Publications  # noqa: E402
from storage.stage_runs import StageRuns  # noqa: E402
from storage.training_logs import TrainingLogs  # noqa: E402
from tests.support.storage_services import services  # noqa: E402

MB = 2**20
STAGE_ORDER = REGISTRY.names  # the pipeline's stages in run order (knowrl/registry.py)


def _files(prefix: str, n: int, total_bytes: int) -> Callable[[Path], None]:
    """A build function writing `n` files of pseudo-random bytes (`total_bytes` in all, one file holding most)."""
    big = max(total_bytes - (n - 1) * 1024, 1024)

    def build(directory: Path) -> None:
        seed = prefix.encode()
        for i in range(n):
            size = big if i == 0 else 1024
            data = (seed * (size // len(seed) + 1))[:size] if i else os.urandom(size)
            (directory / f"file-{i:02d}.bin").write_bytes(data)

    return build


# --- 1. throughput ------------------------------------------------------------------------------------------------


def throughput(profile: StorageProfile, work: Path, size_mb: int) -> dict[str, float]:
    writer = open_artifacts(Paths(work / "writer"), profile=profile)
    local = open_artifacts(Paths(work / "writer"), profile=StorageProfile())  # commit locally, no upload
    staged = writer.root / "staged"
    staged.mkdir(parents=True)
    with (staged / "model.safetensors").open("wb") as handle:
        for _ in range(size_mb):
            handle.write(os.urandom(MB))
    started = time.perf_counter()
    artifact = local.commit_directory("bench", staged)
    commit_s = time.perf_counter() - started
    started = time.perf_counter()
    writer._upload("bench", artifact)
    upload_s = time.perf_counter() - started
    reader = open_artifacts(Paths(work / "reader"), profile=profile)
    started = time.perf_counter()
    opened = reader.open(artifact.artifact_id, stage="bench")
    download_s = time.perf_counter() - started
    assert (opened.path / "model.safetensors").stat().st_size == size_mb * MB
    return {
        "size_mb": size_mb,
        "upload_mb_s": round(size_mb / upload_s, 1),
        "write_mb_s": round(size_mb / (commit_s + upload_s), 1),
        "download_mb_s": round(size_mb / download_s, 1),
    }


def server_ceiling(s3: Any, work: Path, size_mb: int) -> dict[str, float]:
    """The same file through boto3's own managed transfer (multipart, 10 threads), no hashing, no commit protocol:
    what the loopback server itself allows on this machine, so our figures can be read against it."""
    from boto3.s3.transfer import TransferConfig

    source = work / "ceiling.bin"
    with source.open("wb") as handle:
        for _ in range(size_mb):
            handle.write(os.urandom(MB))
    client, bucket = s3.client(), s3.create_bucket()
    config = TransferConfig(multipart_chunksize=32 * MB, max_concurrency=8)
    started = time.perf_counter()
    client.upload_file(str(source), bucket, "ceiling.bin", Config=config)
    upload_s = time.perf_counter() - started
    started = time.perf_counter()
    client.download_file(bucket, "ceiling.bin", str(work / "ceiling-back.bin"), Config=config)
    download_s = time.perf_counter() - started
    return {
        "server_ceiling_upload_mb_s": round(size_mb / upload_s, 1),
        "server_ceiling_download_mb_s": round(size_mb / download_s, 1),
    }


# --- 2. a demo run's storage operations -----------------------------------------------------------------------------


def _rows(n: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"row_id": f"r{i}", "source_row": i, "split": "train", **extra} for i in range(n)]


class DemoReplay:
    """The storage side of the demo's stages (one method per stage of the registry, in its order); each runs as a
    fresh worker would."""

    def __init__(self, profile: StorageProfile, home: Path) -> None:
        self.profile = profile
        self.home = home
        self.worker = 0
        self.refs: dict[str, str] = {}

    def _fresh(self) -> tuple[Any, Any]:
        """Stores as a new worker opens them (the remote profile: another machine, an empty cache)."""
        close_attached()
        self.worker += 1
        paths = Paths(self.home / f"worker-{self.worker}") if self.profile.name == "remote" else Paths(self.home)
        return open_warehouse(paths, profile=self.profile), open_artifacts(paths, profile=self.profile)

    def data(self) -> None:
        warehouse, _ = self._fresh()
        tables = DatasetTables(warehouse)
        rl = [{**r, "question": "q?", "answers": ["a"], "titles": ["T"], "topic": "T"} for r in _rows(65)]
        tables.record_load(LoadRecord("rl", "demo/rl.jsonl", None, "s1", "fp-rl", "c", 65, 65, 0), rl, [])
        cs = [{**r, "prompt": "p", "response": "r"} for r in _rows(53)]
        tables.record_load(LoadRecord("coldstart", "demo/cs.json", None, "s2", "fp-cs", "c", 53, 53, 0), cs, [])
        StageRuns(warehouse).record("data", "k-data", "c", {"fingerprint": "fp-rl"})

    def knowledge(self) -> None:
        warehouse, store = self._fresh()
        DatasetTables(warehouse).rl_rows("fp-rl", split=None)
        tables = KnowledgeTables(warehouse)
        tables.segments("store")
        tables.searched_keys("store")
        segment = store.write("knowledge-segment", _files("segment", 16, 84 * 1024))
        pages = [{"title_key": f"t{i}", "title": f"T{i}", "n_passages": 3, "source": "kb"} for i in range(15)]
        passages = [{"title_key": f"t{i % 15}", "passage_idx": i // 15, "text": "x" * 300} for i in range(46)]
        tables.add_segment("store", segment.artifact_id, pages, passages, [f"t{i}" for i in range(47)], [])
        tables.page_keys("store")
        tables.record_coverage("store", "fp-rl", {f"T{i}": i < 15 for i in range(32)})
        knowledge = store.write("knowledge", _files("knowledge", 3, 20 * 1024))
        tables.missing_titles("store", "fp-rl")
        self.refs["segment"], self.refs["knowledge"] = segment.artifact_id, knowledge.artifact_id
        StageRuns(warehouse).record("knowledge", "k-kn", "c", {"artifact_id": knowledge.artifact_id})

    def _train(self, stage: str, size: int, inputs: list[tuple[str, str]]) -> None:
        warehouse, store = self._fresh()
        for input_stage, artifact_id in inputs:
            store.open(artifact_id, stage=input_stage)
        if stage == "sft":
            DatasetTables(warehouse).coldstart_rows("fp-cs")
        else:
            DatasetTables(warehouse).rl_rows("fp-rl")
        logs = TrainingLogs(warehouse)
        logs.clear(f"run-{stage}", after_step=-1)
        for flush in range(8):  # ~935 rows per stage, flushed every 25 logged steps
            logs.append_many(
                f"run-{stage}", stage, [(flush * 25 + s, {f"m{j}": 1.0 for j in range(5)}) for s in range(25)]
            )
        if stage == "grpo":
            cache = LLMCache(warehouse)
            for batch in range(4):
                cache.get_many([f"k{batch}-{i}" for i in range(8)])
                cache.put_many("http", "judge", {f"k{batch}-{i}": "verdict" for i in range(8)})
        model = store.write(stage, _files(stage, 15, size))
        self.refs[stage] = model.artifact_id
        StageRuns(warehouse).record(stage, f"k-{stage}", "c", {"artifact_id": model.artifact_id})

    def sft(self) -> None:
        self._train("sft", int(6.5 * MB), [])

    def curate(self) -> None:
        """The SFT model's samples of the 89 RL questions, graded: one row per question, and the report artifact."""
        warehouse, store = self._fresh()
        store.open(self.refs["sft"], stage="sft")
        DatasetTables(warehouse).rl_rows("fp-rl")
        tables = CurationTables(warehouse)
        tables.questions("k-curate")  # a policy change re-reads the stored samples
        rows = [
            {"row_id": f"r{i}", "question": "q?", "samples": 4, "correct": 4, "refused": 0, "pass_rate": 1.0,
             "refusal_rate": 0.0, "agreement": 1.0, "bucket": "always_correct", "answers": ["a"] * 4}
            for i in range(89)
        ]  # fmt: skip
        tables.store("k-curate", self.refs["sft"], "fp-rl", rows)
        report = store.write("curate", _files("curate", 6, 40 * 1024))
        self.refs["curate"] = report.artifact_id
        StageRuns(warehouse).record("curate", "k-curate", "c", {"artifact_id": report.artifact_id})

    def grpo(self) -> None:
        self._train(
            "grpo",
            5 * MB,
            [
                ("sft", self.refs["sft"]),
                ("curate", self.refs["curate"]),
                ("knowledge", self.refs["knowledge"]),
                ("knowledge-segment", self.refs["segment"]),
            ],
        )

    def evaluate(self) -> None:
        warehouse, store = self._fresh()
        store.open(self.refs["grpo"], stage="grpo")
        store.open(self.refs["sft"], stage="sft")
        tables = EvalTables(warehouse)
        for model in ("base", "sft", "grpo"):
            items = [
                {"item_id": f"i{i}", "question": "q", "generation": "g" * 200, "answer": "a", "parse_status": "ok",
                 "followed_format": True, "grade": "correct", "score": 1.0, "details": {"facts": 3}}
                for i in range(85)
            ]  # fmt: skip
            tables.store(f"ek-{model}", model, "bench", "bfp", items, {f"metric{j}": 0.5 for j in range(31)})
            tables.items(f"ek-{model}")
        Publications(warehouse).latest()
        report = store.write("evaluate", _files("evaluate", 4, 88 * 1024))
        StageRuns(warehouse).record("evaluate", "k-ev", "c", {"artifact_id": report.artifact_id})

    def publish(self) -> None:
        warehouse, store = self._fresh()
        store.open(self.refs["grpo"], stage="grpo")
        bundle = store.write("publish", _files("publish", 15, 5 * MB))
        ref = {"repo_id": "me/knowrl", "artifact_id": bundle.artifact_id, "pushed": False}
        Publications(warehouse).record(ref, self.refs["grpo"], {"accuracy": 0.5})
        StageRuns(warehouse).record("publish", "k-pub", "c", ref)

    def run(self) -> dict[str, float]:
        timings = {}
        for stage in STAGE_ORDER:
            started = time.perf_counter()
            getattr(self, stage)()
            timings[stage] = time.perf_counter() - started
        close_attached()
        return timings


def stage_overhead(local: StorageProfile, remote: StorageProfile, work: Path, repeats: int) -> dict[str, Any]:
    totals: dict[str, dict[str, float]] = {"local": {}, "remote": {}}
    for repeat in range(repeats):
        for name, profile in (("local", local), ("remote", remote)):
            timings = DemoReplay(profile, work / f"{name}-{repeat}").run()
            for stage, seconds in timings.items():
                totals[name][stage] = min(seconds, totals[name].get(stage, float("inf")))
    local_s, remote_s = sum(totals["local"].values()), sum(totals["remote"].values())
    return {
        "local_s": round(local_s, 2),
        "remote_s": round(remote_s, 2),
        "remote_over_local": round(remote_s / local_s, 2),
        "stages": {
            stage: {
                "local_s": round(totals["local"][stage], 3),
                "remote_s": round(totals["remote"][stage], 3),
                "ratio": round(totals["remote"][stage] / totals["local"][stage], 2),
            }
            for stage in totals["local"]
        },
    }


PROFILE_VARIABLES = ("KNOWRL_ARTIFACTS_URL", "KNOWRL_WAREHOUSE_URL", "KNOWRL_LAKE_DATA_URL")
FINISHED = """
import json, sys
from storage import Paths, open_warehouse
rows = open_warehouse(Paths.from_env(sys.argv[1]), read_only=True).query(
    "SELECT stage, epoch(max(finished_at)) AS t FROM stage_runs GROUP BY stage")
print(json.dumps({r["stage"]: r["t"] for r in rows}))
"""


def demo_overhead(s3: Any, postgres: Any, work: Path, overrides: list[str]) -> dict[str, Any]:
    """`knowrl demo` for real under the local and the remote profile, one after the other, on fresh homes."""
    runs: dict[str, dict[str, float]] = {}
    for name in ("local", "remote"):
        env = {k: v for k, v in os.environ.items() if k not in PROFILE_VARIABLES}
        env.update(KNOWRL_HOME=str(work / f"demo-{name}"), PREFECT_HOME=str(work / f"prefect-{name}"))
        if name == "remote":
            env.update(
                KNOWRL_ARTIFACTS_URL=f"s3://{s3.create_bucket()}/knowrl",
                KNOWRL_WAREHOUSE_URL=postgres.warehouse_url(postgres.create_database()),
            )
        sets = [item for override in overrides for item in ("--set", override)]
        started = time.time()
        done = subprocess.run(
            [sys.executable, "-m", "knowrl_cli", "demo", "--no-live", *sets], env=env, capture_output=True, text=True
        )
        total = time.time() - started
        if done.returncode != 0:
            raise SystemExit(f"the {name} demo failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        out = subprocess.run(
            [sys.executable, "-c", FINISHED, env["KNOWRL_HOME"]], env=env, capture_output=True, text=True, check=True
        )
        finished = json.loads(out.stdout.strip().splitlines()[-1])
        previous, stages = started, {}
        for stage in STAGE_ORDER:
            stages[stage] = finished[stage] - previous
            previous = finished[stage]
        runs[name] = {"total": total, **stages}
        print(f"demo, {name} profile: {total:.1f} s", flush=True)
    return {
        "demo_local_s": round(runs["local"]["total"], 1),
        "demo_remote_s": round(runs["remote"]["total"], 1),
        "demo_remote_over_local": round(runs["remote"]["total"] / runs["local"]["total"], 2),
        "demo_stages": {
            stage: {
                "local_s": round(runs["local"][stage], 1),
                "remote_s": round(runs["remote"][stage], 1),
                "ratio": round(runs["remote"][stage] / max(runs["local"][stage], 1e-3), 2),
            }
            for stage in STAGE_ORDER
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=500, help="size of the throughput artifact's file")
    parser.add_argument("--repeats", type=int, default=1, help="replays of the demo per profile (best time kept)")
    parser.add_argument("--no-demo", action="store_true", help="skip the real demo under both profiles")
    parser.add_argument("--demo-set", action="append", default=[], help="a recipe override for the demo runs")
    parser.add_argument("--smoke", action="store_true", help="seconds: an 8 MB artifact, no demo runs (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.size_mb, args.no_demo, args.repeats = 8, True, 1
    work = Path(tempfile.mkdtemp(prefix="bench-storage-"))
    try:
        with services(work) as (s3, postgres):
            bucket = s3.create_bucket()
            database = postgres.create_database()
            os.environ.update({**s3.env, "PGPASSWORD": postgres.password})
            env = {
                **os.environ,
                "KNOWRL_ARTIFACTS_URL": f"s3://{bucket}/knowrl",
                "KNOWRL_WAREHOUSE_URL": postgres.warehouse_url(database),
            }
            remote = StorageProfile.from_env(env)
            local = StorageProfile.from_env({k: v for k, v in env.items() if not k.startswith("KNOWRL_")})
            print(
                f"S3 transfers: part {remote.s3.part_mb} MB, {remote.s3.concurrency} parts at a time "
                f"(KNOWRL_S3_PART_MB, KNOWRL_S3_CONCURRENCY)",
                flush=True,
            )
            moved = throughput(remote, work / "throughput", args.size_mb)
            shutil.rmtree(work / "throughput")
            print(
                f"{args.size_mb} MB artifact on loopback moto: upload {moved['upload_mb_s']} MB/s "
                f"(commit+upload {moved['write_mb_s']} MB/s), download+verify {moved['download_mb_s']} MB/s",
                flush=True,
            )
            # The same with one request per file (parts larger than the file): moto reassembles a multipart
            # upload and serves each ranged GET from a full copy of the object, in Python; this shows that cost.
            single = dataclasses.replace(remote, s3=dataclasses.replace(remote.s3, part_mb=2 * args.size_mb + 1))
            one = throughput(single, work / "throughput", args.size_mb)
            shutil.rmtree(work / "throughput")
            moved.update(
                upload_single_request_mb_s=one["upload_mb_s"], download_single_request_mb_s=one["download_mb_s"]
            )
            print(
                f"  one request per file: upload {one['upload_mb_s']} MB/s, "
                f"download+verify {one['download_mb_s']} MB/s",
                flush=True,
            )
            demo = {} if args.no_demo else demo_overhead(s3, postgres, work, args.demo_set)
            for stage, row in demo.get("demo_stages", {}).items():
                print(f"  {stage:<10} local {row['local_s']:7.1f} s  remote {row['remote_s']:7.1f} s  x{row['ratio']}")
            if demo:
                print(
                    f"demo end to end: local {demo['demo_local_s']} s, remote {demo['demo_remote_s']} s "
                    f"(remote/local {demo['demo_remote_over_local']}, target <= 1.3)",
                    flush=True,
                )
            (work / "ceiling").mkdir()
            moved.update(server_ceiling(s3, work / "ceiling", args.size_mb))
            shutil.rmtree(work / "ceiling")
            print(
                f"  boto3's own transfer, same file and part size (the server's ceiling here): upload "
                f"{moved['server_ceiling_upload_mb_s']} MB/s, download {moved['server_ceiling_download_mb_s']} MB/s",
                flush=True,
            )
            overhead = stage_overhead(local, remote, work / "demo", args.repeats)
            for stage, row in overhead["stages"].items():
                print(
                    f"  {stage:<10} local {row['local_s']:7.3f} s   remote {row['remote_s']:7.3f} s   x{row['ratio']}"
                )
            print(
                f"demo run's storage operations: local {overhead['local_s']} s, remote {overhead['remote_s']} s "
                f"(remote/local {overhead['remote_over_local']})",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    replay = {f"replay_{k}" if not k.startswith("replay") else k: v for k, v in overhead.items()}
    print(json.dumps({**moved, **demo, **replay}))


if __name__ == "__main__":
    main()
