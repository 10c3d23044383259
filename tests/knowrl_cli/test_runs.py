"""`knowrl runs`: the flow runs' states as the server keeps them (what `--watch` cannot tell once its stream is
gone), and one line when there is no server to ask."""

from __future__ import annotations

import json

from prefect import flow
from typer.testing import CliRunner

from knowrl_cli.local_services import free_port
from knowrl_cli.main import app


def test_runs_without_a_server_fails_in_one_line(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KNOWRL_HOME", str(tmp_path))
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{free_port()}/api")
    result = CliRunner().invoke(app, ["runs"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith("error: no Prefect server answers at http://127.0.0.1:")


def test_runs_reads_the_final_states_from_the_server(prefect_harness, tmp_path, monkeypatch) -> None:
    from prefect.settings import PREFECT_API_URL

    @flow(flow_run_name="knowrl-runs-probe")
    def fails() -> None:
        raise ValueError("the probe fails on purpose")

    fails(return_state=True)
    monkeypatch.setenv("KNOWRL_HOME", str(tmp_path))
    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())  # the harness's temporary server
    listed = CliRunner().invoke(app, ["runs", "--json", "--limit", "50"])
    assert listed.exit_code == 0, listed.output
    waited = CliRunner().invoke(app, ["runs", "--wait", "knowrl-runs-probe", "--json"])
    assert waited.exit_code == 1, waited.output  # a final state other than Completed
    row = json.loads(waited.output)
    assert row["name"] == "knowrl-runs-probe" and row["state"] == "Failed" and row["final"]
    assert "the probe fails on purpose" in row["message"]
    assert "knowrl-runs-probe" in listed.output
