"""Every bad input file gives one line: exit != 0, one `error:` line on stderr naming the file and the fix, and no
traceback anywhere. The runs go together (each is mostly waiting for its own Prefect server)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.faults.conftest import DEMO_RECIPE, FaultHome

pytestmark = pytest.mark.slow

DEMO_RL = Path(DEMO_RECIPE).parents[1] / "demo" / "data" / "rl.jsonl"


def _rows() -> list[dict]:
    return [json.loads(line) for line in DEMO_RL.read_text().splitlines() if line.strip()]


def _parquet_bytes(rows: list[dict], path: Path) -> bytes:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path.read_bytes()


def _make_inputs(folder: Path) -> dict[str, tuple[Path, str]]:
    """case -> (file, a word the fix must contain)."""
    rows = _rows()
    scratch = folder / "scratch.parquet"
    good_parquet = _parquet_bytes(rows, scratch)
    wrong_columns = _parquet_bytes([{"prompt": r["question"], "response": str(r["answers"])} for r in rows], scratch)
    array = json.dumps(rows)
    files = {
        "empty .jsonl": ("empty.jsonl", b"", "point data.rl_source"),
        "binary .jsonl": ("binary.jsonl", os.urandom(4096), "UTF-8"),
        "empty .parquet": ("empty.parquet", b"", "re-export"),
        "wrong columns .parquet": ("wrong-columns.parquet", wrong_columns, "relax data.rules"),
        "truncated .parquet": ("truncated.parquet", good_parquet[: len(good_parquet) // 2], "re-export"),
        "truncated .json": ("truncated.json", array[: len(array) // 2].encode(), "truncated"),
    }
    made = {}
    for case, (name, content, fix) in files.items():
        (folder / name).write_bytes(content)
        made[case] = (folder / name, fix)
    return made


def test_bad_input_files_fail_in_one_line(fault_home: FaultHome, tmp_path: Path, record) -> None:
    inputs = _make_inputs(tmp_path)
    # One home per case: the runs go together, and each must fail on its own input.
    procs = {
        case: fault_home.start(
            "run",
            "--recipe",
            DEMO_RECIPE,
            "--stages",
            "data",
            "--set",
            f"data.rl_source={path}",
            KNOWRL_HOME=str(fault_home.root / f"home-{i}"),
        )
        for i, (case, (path, _)) in enumerate(inputs.items())
    }
    failures = []
    for case, proc in procs.items():
        done = fault_home.finish(proc, timeout=240)
        path, fix = inputs[case]
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        traceback = "Traceback" in done.stdout + done.stderr
        ok = done.returncode != 0 and len(errors) == 1 and str(path) in errors[0] and fix in errors[0]
        ok = ok and not traceback
        record(
            f"bad input: {case}",
            "exit != 0, one line naming the file and the fix",
            f"exit {done.returncode}, {len(errors)} error line(s), traceback {traceback}: "
            f"{errors[0].replace(str(tmp_path), '<tmp>')[:160] if errors else done.stderr[-200:]}",
        )
        if not ok:
            failures.append((case, done.returncode, errors, done.stderr[-1500:]))
    assert not failures, failures
