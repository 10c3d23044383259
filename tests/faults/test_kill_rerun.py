"""`kill -9` at the risky points of the data and knowledge stages, then a rerun: the warehouse and the artifact
store end up as after a clean run (same counts, same fingerprints), with no temporaries and no processes left."""

from __future__ import annotations

import json

import pytest

from tests.faults.conftest import DEMO_RECIPE, CleanRun, FaultHome, differences, orphan_servers, wait_gone

pytestmark = pytest.mark.slow

# Where a crash can leave half-done work: inside a load's transaction, between the two loads, with a segment built
# in artifacts/.tmp, with a committed segment the warehouse does not know, with the store built but not committed.
POINTS = [
    "data.load-transaction",
    "data.between-sets",
    "knowledge.segment-build",
    "knowledge.segment-registration",
    "knowledge.store-write",
]


def _fingerprints(refs: dict) -> tuple:
    return (refs["data"]["fingerprint"], refs["knowledge"]["fingerprint"], refs["knowledge"]["segments"])


@pytest.mark.parametrize("point", POINTS)
def test_kill9_at_a_risky_point_then_rerun_equals_a_clean_run(
    point: str, fault_home: FaultHome, clean_data_knowledge: CleanRun, record
) -> None:
    proc = fault_home.start("data,knowledge", point=point, route="lib")
    fault_home.wait_for_point(proc, timeout=120)
    fault_home.kill9(proc)
    left_by_kill = fault_home.debris()

    rerun = fault_home.run("data,knowledge", point="none", route="lib", timeout=120)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    refs = json.loads(rerun.stdout.splitlines()[-1])
    counts, debris = fault_home.counts(), fault_home.debris()
    same = counts == clean_data_knowledge.counts and _fingerprints(refs) == _fingerprints(clean_data_knowledge.refs)
    record(
        f"kill -9 at {point}, rerun",
        "counts = clean run, no debris",
        f"rerun exit 0, counts {'=' if same else '!='} clean, temporaries after kill {len(left_by_kill)}, "
        f"after rerun {len(debris)}",
    )
    assert counts == clean_data_knowledge.counts, differences(counts, clean_data_knowledge.counts)
    assert _fingerprints(refs) == _fingerprints(clean_data_knowledge.refs)
    assert debris == []


def test_kill9_of_the_cli_leaves_no_prefect_server_and_a_rerun_completes(
    fault_home: FaultHome, clean_data_knowledge: CleanRun, record
) -> None:
    args = ("run", "--recipe", DEMO_RECIPE, "--stages", "data,knowledge")
    proc = fault_home.start(*args, point="knowledge.segment-build")
    fault_home.wait_for_point(proc)
    children = fault_home.kill9(proc)
    servers = [p for p in children if "uvicorn" in " ".join(p.cmdline())]
    left = wait_gone(children, timeout=10)
    orphans = orphan_servers(fault_home.root / "prefect")
    record(
        "kill -9 of `knowrl run` (temporary Prefect server)",
        "server and every child gone",
        f"{len(servers)} server(s) among {len(children)} children; {len(left)} alive 10 s later "
        f"({len(orphans)} server(s) with parent 1)",
    )
    assert servers, f"no temporary Prefect server among the CLI's children: {[p.cmdline() for p in children]}"
    assert not left, f"left running after kill -9 of the CLI: {[(p.pid, p.cmdline()[:4]) for p in left]}"

    rerun = fault_home.run(*args)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    counts, stage_runs = fault_home.counts(), fault_home.stage_runs()
    same = "=" if counts == clean_data_knowledge.counts else "!="
    record(
        "rerun of `knowrl run` after the kill",
        "exit 0, counts = clean run, no debris",
        f"exit {rerun.returncode}, stage runs {stage_runs}, counts {same} clean, debris {len(fault_home.debris())}",
    )
    assert counts == clean_data_knowledge.counts, differences(counts, clean_data_knowledge.counts)
    assert stage_runs == {"data": 1, "knowledge": 1}  # data was a cache hit: its task body ran once
    assert fault_home.debris() == []
