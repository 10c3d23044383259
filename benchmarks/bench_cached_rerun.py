"""A fully cached `knowrl demo` against the first one: what re-running costs when nothing has to be computed.

In one run, on a fresh KNOWRL_HOME (and a fresh PREFECT_HOME, warmed by one server start so that creating
Prefect's database is not counted): a first `knowrl demo` (every stage computes), then the same command again
(every stage a cache hit), then `knowrl status`. Where the cached time goes is measured beside it: Prefect's
temporary server start alone, and the cached run through the Prefect flow itself (what a fully cached run costs
when it goes through the orchestrator, e.g. with `from_stage` or against a server). The last line printed is one
JSON object: first_s, cached_s, cached_ratio (target <= 0.05), status_s, cached_flow_s, server_start_s.

    python benchmarks/bench_cached_rerun.py
    python benchmarks/bench_cached_rerun.py --smoke     # a demo with 10 SFT and 2 GRPO steps (CI: the checks run)

Checked (exit 1 otherwise): the second run finds every stage cached, `knowrl status` reports every stage of the
registry cached, and the flow run finds one cache hit per stage.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

from knowrl.registry import REGISTRY  # noqa: E402

SERVER_START = """
import time
from prefect.server.api.server import SubprocessASGIServer
server = SubprocessASGIServer()
started = time.perf_counter()
server.start()
print("server_start_s", time.perf_counter() - started)
server.stop()
"""
CACHED_FLOW = "import sys; from flows.knowrl_flow import knowrl; knowrl(recipe='demo', overrides=sys.argv[1:])"
SMOKE = ["sft.max_steps=10", "grpo.max_steps=2", "grpo.per_device_train_batch_size=8", "curate.k=2"]


def timed(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return elapsed, result.stdout + result.stderr


def server_start(env: dict[str, str], cwd: Path) -> float:
    """Seconds from SubprocessASGIServer.start() to a healthy temporary server (what an ephemeral run waits for)."""
    output = timed([str(BIN / "python"), "-c", SERVER_START], env, cwd)[1]
    return float(next(line for line in output.splitlines() if line.startswith("server_start_s")).split()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help=f"the demo with {' '.join(SMOKE)} (CI)")
    overrides = SMOKE if parser.parse_args().smoke else []
    sets = [item for override in overrides for item in ("--set", override)]
    with tempfile.TemporaryDirectory(prefix="bench-cached-") as tmp:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        env |= {"KNOWRL_HOME": str(work / "home"), "PREFECT_HOME": str(work / "prefect-home")}
        env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # as knowrl_cli sets it: the server stays offline
        python, knowrl = str(BIN / "python"), str(BIN / "knowrl")
        # The first start creates Prefect's database: not part of either run.
        cold_server_s = server_start(env, work)
        server_start_s = server_start(env, work)

        first_s, _ = timed([knowrl, "demo", "--no-live", *sets], env, work)
        cached_s, output = timed([knowrl, "demo", "--no-live", *sets], env, work)
        if "every stage to run is cached" not in output:
            sys.exit(f"the second demo run was not fully cached:\n{output[-3000:]}")
        status_s, status = timed([knowrl, "status", *sets], env, work)
        if status.count("yes (cached)") != len(REGISTRY):
            sys.exit(f"knowrl status does not report {len(REGISTRY)} cached stages:\n{status}")
        cached_flow_s, flow_output = timed(
            [python, "-c", CACHED_FLOW, *overrides], env | {"PREFECT_LOGGING_LEVEL": "INFO"}, ROOT
        )
        if flow_output.count("Cached(type=COMPLETED)") != len(REGISTRY):
            sys.exit(f"the flow did not find {len(REGISTRY)} cache hits:\n{flow_output[-3000:]}")

    ratio = cached_s / first_s
    print(
        f"knowrl demo: first run {first_s:.1f}s, fully cached rerun {cached_s:.1f}s -> {ratio:.3f} of the first "
        f"(target <= 0.05); knowrl status {status_s:.1f}s. Through the Prefect flow the cached run takes "
        f"{cached_flow_s:.1f}s, of which Prefect's temporary server start is {server_start_s:.1f}s "
        f"({cold_server_s:.1f}s with a new database)"
    )
    print(
        json.dumps(
            {
                "first_s": round(first_s, 2),
                "cached_s": round(cached_s, 2),
                "cached_ratio": round(ratio, 4),
                "status_s": round(status_s, 2),
                "cached_flow_s": round(cached_flow_s, 2),
                "server_start_s": round(server_start_s, 2),
                "server_start_new_db_s": round(cold_server_s, 2),
                "stages_cached": len(REGISTRY),
                "overrides": overrides,
            }
        )
    )


if __name__ == "__main__":
    main()
