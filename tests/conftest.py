"""Shared fixtures: an isolated KNOWRL_HOME per test, the demo paths, a tiny model built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
DEMO = REPO_ROOT / "demo"

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh KNOWRL_HOME for the test; nothing leaks between tests."""
    root = tmp_path / "knowrl-home"
    monkeypatch.setenv("KNOWRL_HOME", str(root))
    return root


@pytest.fixture
def ctx(home: Path):
    from knowrl.pipeline.runtime import StageContext

    return StageContext.from_env()


@pytest.fixture
def hub_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Hub client in offline mode, as `HF_HUB_OFFLINE=1` makes it in a fresh process: huggingface_hub and
    datasets read the variable once, at import, so an earlier test's import would otherwise leave them online here
    (and a test would wait out connection retries to an unreachable Hub)."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    try:
        import datasets.config
    except ImportError:
        return
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect server (SQLite) for the whole session; results stay under each test's KNOWRL_HOME."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's builtin tiny model, built (tokenizer + short pretraining) once for the whole session."""
    from knowrl.models import resolve_model

    return resolve_model("builtin:tiny-qwen2", tmp_path_factory.mktemp("models"))


@pytest.fixture
def demo_data_ref(ctx):
    from knowrl.data.config import DataConfig
    from knowrl.data.stage import run_data_stage

    cfg = DataConfig(
        rl_source=str(DEMO / "data" / "rl.jsonl"),
        coldstart_source=str(DEMO / "data" / "coldstart.json"),
        heldout_fraction=0.0,
    )
    return run_data_stage(cfg, {}, ctx)


@pytest.fixture
def demo_knowledge_ref(ctx, demo_data_ref):
    from knowrl.knowledge.config import KnowledgeConfig
    from knowrl.knowledge.stage import run_knowledge_stage

    return run_knowledge_stage(
        KnowledgeConfig(source=str(DEMO / "data" / "corpus.jsonl"), passage_max_tokens=64),
        {"data": demo_data_ref},
        ctx,
    )


def pytest_configure(config: pytest.Config) -> None:
    """Every run prints each skip with its reason and fails on a skip not in tests/skip_allowlist.yaml (the check is
    tests/support/skip_allowlist.py): always, so the README's test command and CI behave the same."""
    from tests.support.skip_allowlist import SkipAllowlist

    config.pluginmanager.register(SkipAllowlist(REPO_ROOT / "tests" / "skip_allowlist.yaml"), "knowrl-skip-allowlist")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_r1_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model with DeepSeek-R1-Distill-Qwen's tokenizer properties and chat template behaviour (it drops an
    assistant turn's reasoning, has no generation markers, opens `<think>` in its generation prompt)."""
    import json as _json

    from tests.support.tiny_r1 import build_tiny_r1

    rows = _json.loads((DEMO / "data" / "coldstart.json").read_text())
    texts = [turn["value"] for row in rows for turn in row["conversations"]]
    return build_tiny_r1(tmp_path_factory.mktemp("tiny-r1"), texts)
