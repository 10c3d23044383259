"""The whole demo through the CLI and the flow (Prefect test harness), then scheduled-retraining behaviour."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from knowrl.evaluate.metrics import refused_share
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

    # KnowRL's claim in miniature, on three sets (recipes/demo.yaml), graded by a stricter judge than the reward's.
    comparison = _comparison()
    unknown, known, trained = (comparison[name]["metrics"] for name in ("unknown", "known", "trained"))
    refused = {name: comparison[name]["metrics"]["not_attempted_rate"] for name in ("unknown", "known")}
    # Made-up entities nobody can know: GRPO answers wrongly less often than the cold-start SFT model, beyond noise,
    # by refusing more.
    assert unknown["incorrect_rate"]["grpo"] < unknown["incorrect_rate"]["sft"]
    assert unknown["incorrect_rate"]["grpo-sft"]["ci_high"] < 0
    assert refused["unknown"]["grpo"] > refused["unknown"]["sft"]
    # Facts in the pretraining text but in no training set: the base model is sure of them and the light cold start
    # keeps them (SFT answers all 20 over seeds), and GRPO must keep them and refuse them no more than SFT does (a
    # model that refuses whatever it was not trained on would refuse them). Each run is one draw: a machine with other
    # float kernels trains another trajectory, as another seed does, so the bounds are the measured ones with a
    # question to spare: GRPO refused one known question more than SFT in 2 of 4 runs, none in the others (README,
    # "The demo shows the method working", benchmarks/bench_demo_claim.py).
    assert known["correct_rate"]["sft"] >= 0.8, known["correct_rate"]
    assert known["correct_rate"]["grpo"] >= known["correct_rate"]["sft"] - 0.1, known["correct_rate"]
    assert refused["known"]["grpo"] <= refused["known"]["sft"] + 0.1, refused["known"]
    # Answer by answer: GRPO refuses what it cannot know, not what it knew. The share of SFT's right known answers it
    # turns into refusals is at most half the share of SFT's wrong unknown answers it turns into refusals.
    known_moves, unknown_moves = (comparison[name]["moves"]["grpo-sft"] for name in ("known", "unknown"))
    known_right = refused_share(known_moves, "correct")
    unknown_wrong = refused_share(unknown_moves, "incorrect")
    assert known_right <= 0.5 * unknown_wrong, (known_moves, unknown_moves)
    gap = {model: refused["unknown"][model] - refused["known"][model] for model in ("sft", "grpo")}
    assert gap["grpo"] > gap["sft"] and refused["known"]["grpo"] < refused["unknown"]["grpo"], gap
    # The trained questions: kept.
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
