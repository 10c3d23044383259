from __future__ import annotations

import os

import pytest
import torch

from knowrl import threads
from knowrl.errors import ConfigError
from knowrl.threads import configure_threads


@pytest.fixture(autouse=True)
def _restore(monkeypatch: pytest.MonkeyPatch):
    before = torch.get_num_threads()
    for name in ("KNOWRL_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    yield
    torch.set_num_threads(before)


def test_env_var_wins_and_sets_torch_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KNOWRL_NUM_THREADS", "3")
    monkeypatch.setenv("MKL_NUM_THREADS", "7")  # set by the user: left alone
    assert configure_threads() == 3
    assert torch.get_num_threads() == 3
    assert os.environ["OMP_NUM_THREADS"] == "3" and os.environ["MKL_NUM_THREADS"] == "7"


def test_default_is_the_cores_given_and_at_least_one() -> None:
    n = configure_threads()
    assert 1 <= n <= len(os.sched_getaffinity(0))
    assert torch.get_num_threads() == n


def test_cgroup_quota_caps_the_affinity(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    cpu_max = tmp_path / "cpu.max"
    monkeypatch.setattr(threads, "CGROUP_V2_CPU_MAX", cpu_max)
    monkeypatch.setattr(threads, "_affinity_cores", lambda: 16)
    cpu_max.write_text("150000 100000\n")
    assert configure_threads() == 2
    cpu_max.write_text("max 100000\n")
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert configure_threads() == 16


def test_bad_env_value_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KNOWRL_NUM_THREADS", "lots")
    with pytest.raises(ConfigError, match="KNOWRL_NUM_THREADS='lots' is not a positive whole number"):
        configure_threads()
