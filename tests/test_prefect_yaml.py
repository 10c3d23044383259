"""prefect.yaml against the stage registry: one deployment per stage (its name, its pool by the spec's `gpu`, a
concurrency limit of 1 on GPU stages), plus `full` and `retrain`; all on the one flow's entrypoint. Adding a stage
without its deployment fails here, naming it."""

from __future__ import annotations

import yaml

from knowrl.registry import REGISTRY
from tests.conftest import REPO_ROOT

ENTRYPOINT = "flows/knowrl_flow.py:knowrl"


def _deployments() -> dict[str, dict]:
    config = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())
    return {d["name"]: d for d in config["deployments"]}


def test_every_stage_has_its_deployment_on_its_pool() -> None:
    deployments = _deployments()
    for spec in REGISTRY:
        assert spec.name in deployments, f"prefect.yaml has no deployment for stage {spec.name}"
        deployment = deployments[spec.name]
        assert deployment["entrypoint"] == ENTRYPOINT
        assert deployment["parameters"]["stages"] == [spec.name]
        assert deployment["work_pool"]["name"] == ("gpu" if spec.gpu else "cpu"), spec.name
        if spec.gpu:
            assert deployment.get("concurrency_limit") == 1, f"{spec.name}: two GPU runs would share one GPU"


def test_full_and_retrain_run_every_stage() -> None:
    deployments = _deployments()
    assert set(deployments) == {*REGISTRY.names, "full", "retrain"}
    for name in ("full", "retrain"):
        assert deployments[name]["entrypoint"] == ENTRYPOINT and "stages" not in deployments[name]["parameters"]
