"""The CLI's error contract: one line naming what was wrong and the fix, a non-zero exit, no traceback unless
--debug; recipes are validated before Prefect starts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from knowrl.pipeline.keys import stage_key
from knowrl.registry import REGISTRY, load_recipe
from knowrl_cli.main import app
from storage import Paths, Warehouse, open_warehouse
from storage.stage_runs import StageRuns
from tests.conftest import REPO_ROOT
from tests.support.refs import made_up_ref

DEMO = str(REPO_ROOT / "recipes" / "demo.yaml")


def test_a_recipe_typo_fails_in_one_line_before_prefect_starts(home: Path, monkeypatch) -> None:
    import flows.knowrl_flow

    monkeypatch.setattr(flows.knowrl_flow, "knowrl", lambda **kwargs: pytest.fail("the flow (Prefect) started"))
    started = time.monotonic()
    ours = CliRunner().invoke(app, ["run", "--recipe", DEMO, "--set", "data.sed=1"])  # one of our sections
    assert ours.exit_code == 2 and "data.sed: Extra inputs are not permitted" in ours.output
    assert "Traceback" not in ours.output and time.monotonic() - started < 5  # the recipe alone: no TRL import
    trl = CliRunner().invoke(app, ["run", "--recipe", DEMO, "--set", "grpo.lossx=1"])  # a TRL option's name
    assert trl.exit_code == 2 and "grpo.lossx: not an option of trl's GRPOConfig" in trl.output
    assert "Traceback" not in trl.output
    assert not home.exists()  # nothing was created


def test_unknown_stage_and_missing_recipe(home: Path) -> None:
    stage = CliRunner().invoke(app, ["run", "--recipe", DEMO, "--stages", "trian"])
    assert stage.exit_code == 2 and "unknown stage 'trian'; stages are data, knowledge" in stage.output
    missing = CliRunner().invoke(app, ["run", "--recipe", str(REPO_ROOT / "recipes" / "nope.yaml")])
    assert missing.exit_code == 2 and "does not exist; available in" in missing.output


def test_debug_shows_the_traceback(home: Path) -> None:
    result = CliRunner().invoke(app, ["--debug", "run", "--recipe", DEMO, "--set", "grpo.lossx=1"])
    assert result.exit_code == 2 and "Traceback" in result.output


def test_status_of_a_home_without_runs_says_so_in_one_line_and_creates_nothing(tmp_path: Path, monkeypatch) -> None:
    misspelt = tmp_path / "knowrl-hoem"
    monkeypatch.setenv("KNOWRL_HOME", str(misspelt))
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 0 and result.output.startswith(f"no runs yet (KNOWRL_HOME={misspelt}")
    assert len(result.output.strip().splitlines()) == 1 and not misspelt.exists()
    # A warehouse that holds no stage run yet (another tool opened it) reads the same.
    misspelt.mkdir()
    Warehouse(misspelt / "warehouse.duckdb").schema_version()
    again = CliRunner().invoke(app, ["status"])
    assert again.exit_code == 0 and again.output.startswith("no runs yet")


def test_status_reports_the_stages_a_run_would_reuse(home: Path) -> None:
    recipe = load_recipe(DEMO)
    paths = Paths.from_env()
    ref = made_up_ref("data", "f" * 16, rl="r", coldstart="c")
    key = stage_key(REGISTRY["data"], recipe.data, {})
    StageRuns(open_warehouse(paths)).record("data", key, recipe.config_hash("data"), ref)
    gone = CliRunner().invoke(app, ["status", "--recipe", "demo"])
    assert "Prefect's cached result is gone" in gone.output and "yes (cached)" not in gone.output
    paths.prefect_results.mkdir(parents=True)
    (paths.prefect_results / key).write_text("{}")  # the record Prefect's cache lookup reads, named by the key
    result = CliRunner().invoke(app, ["status", "--recipe", "demo"])
    assert result.exit_code == 0 and result.output.count("yes (cached)") == 1, result.output
    assert result.output.count("never") == len(REGISTRY) - 1  # every stage but data
    changed = CliRunner().invoke(app, ["status", "--recipe", "demo", "--set", "data.seed=7"])
    assert "no: config changed" in changed.output and "yes (cached)" not in changed.output


def test_a_full_disk_is_reported_in_one_line(home: Path, monkeypatch) -> None:
    import errno

    import flows.knowrl_flow

    def full(**kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(home / "artifacts" / "x"))

    monkeypatch.setattr(flows.knowrl_flow, "knowrl", full)
    result = CliRunner().invoke(app, ["run", "--recipe", DEMO, "--stages", "data"])
    assert result.exit_code == 1 and "no space left on the device holding" in result.output
    assert "artifacts" in result.output and "Traceback" not in result.output
