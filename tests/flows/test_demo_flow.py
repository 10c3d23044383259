"""The whole demo through the CLI and the flow (Prefect test harness), then scheduled-retraining behaviour."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from knowrl.registry import REGISTRY
from knowrl_cli.main import app
from storage import Paths, Warehouse
from tests.conftest import DEMO, REPO_ROOT

pytestmark = pytest.mark.slow
SHORT_GRPO = ["--set", "grpo.max_steps=2", "--set", "grpo.per_device_train_batch_size=8"]


def _runs() -> dict[str, int]:
    with Warehouse(Paths.from_env().warehouse).connect() as con:
        return dict(con.execute("SELECT stage, count(*) FROM stage_runs GROUP BY stage").fetchall())


def _comparison() -> dict:
    with Warehouse(Paths.from_env().warehouse).connect() as con:
        ref = con.execute("SELECT ref FROM stage_runs WHERE stage = 'evaluate' ORDER BY finished_at LIMIT 1")
        return json.loads(ref.fetchall()[0][0])["comparison"]


def test_demo_shows_the_method_then_status_then_schedule(prefect_harness, home: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    for stage in REGISTRY.names:
        assert stage in result.output
    assert _runs() == dict.fromkeys(REGISTRY.names, 1)
    bundles = list((home / "artifacts" / "publish").iterdir())
    assert len(bundles) == 1 and (bundles[0] / "README.md").exists()

    # KnowRL's effect in miniature: on held-out questions the model cannot know, GRPO answers wrongly less often
    # than the cold-start SFT model and refuses more; on the questions it was trained on it keeps answering.
    heldout, trained = _comparison()["heldout"]["metrics"], _comparison()["trained"]["metrics"]
    assert heldout["incorrect_rate"]["grpo"] < heldout["incorrect_rate"]["sft"]
    assert heldout["incorrect_rate"]["grpo-sft"]["ci_high"] < 0  # not noise
    assert heldout["not_attempted_rate"]["grpo"] > heldout["not_attempted_rate"]["sft"]
    assert (
        trained["correct_rate"]["sft"] >= 0.8
        and trained["correct_rate"]["grpo"] >= trained["correct_rate"]["sft"] - 0.15
    )

    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0 and status.output.count("yes (cached)") == len(REGISTRY), status.output
    assert "coverage 15/56" in status.output

    # Scheduled retraining, data unchanged: stops after the data stage.
    recipe = str(REPO_ROOT / "recipes" / "demo.yaml")
    schedule = ["--set", "data.stop_when_unchanged=true"]
    unchanged = runner.invoke(app, ["run", "--recipe", recipe, *schedule])
    assert unchanged.exit_code == 0 and "not run" in unchanged.output
    assert _runs()["grpo"] == 1

    # A new data revision (one more row): the rest runs.
    rows = (DEMO / "data" / "rl.jsonl").read_text()
    new_rl = tmp_path / "rl-v2.jsonl"
    new_rl.write_text(
        rows
        + json.dumps({"question": "Which planet has the Great Red Spot?", "answers": "Jupiter", "title": "Jupiter"})
        + "\n"
    )
    new_data = ["--set", f"data.rl_source={new_rl}", *SHORT_GRPO]
    changed = runner.invoke(app, ["run", "--recipe", recipe, *schedule, *new_data])
    assert changed.exit_code == 0, changed.output
    runs = _runs()
    # data ran for each scheduled run (its config differs by stop_when_unchanged); training only for new data
    assert runs["data"] == 3 and runs["grpo"] == 2 and runs["publish"] == 2
    assert runs["sft"] == 1  # the cold-start data did not change: SFT was a cache hit


def test_cli_reports_a_bad_recipe_clearly(home: Path) -> None:
    result = CliRunner().invoke(
        app, ["run", "--recipe", str(REPO_ROOT / "recipes" / "demo.yaml"), "--set", "grpo.loss_type=ppo"]
    )
    assert result.exit_code == 2 and "grpo.loss_type" in result.output
