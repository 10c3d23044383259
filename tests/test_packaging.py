"""An installed wheel works on its own: recipes, DeepSpeed configs and demo data ship inside the package.

The wheel is built from a copy of the source and installed without dependencies into a fresh virtual
environment; the dependencies come from this environment's site-packages through a .pth line, which adds the
folder to sys.path without running the .pth files in it, so the editable install's finder (which maps `knowrl` to
this checkout) stays out. Everything runs from another folder with a temporary KNOWRL_HOME and PREFECT_HOME.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow
PACKAGES = ("knowrl", "knowrl_cli", "storage", "tasks", "flows")


def _run(args: list[str | Path], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def test_the_wheel_runs_the_data_stage_from_another_folder(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KNOWRL_HOME", "PREFECT_API_URL")}
    env |= {"PYTHONNOUSERSITE": "1", "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    source = tmp_path / "source"  # a copy: building in the checkout would leave build/ and *.egg-info there
    for package in PACKAGES:
        shutil.copytree(REPO_ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    dist = tmp_path / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", dist, source], tmp_path, env
    )
    (wheel,) = dist.glob("knowrl_pipeline-*.whl")

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path, env)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", wheel], tmp_path, env)
    site_packages = Path(
        _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path, env).strip()
    )
    (site_packages / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    elsewhere = tmp_path / "elsewhere"  # no recipes/ or demo/ here
    elsewhere.mkdir()
    env |= {"KNOWRL_HOME": str(tmp_path / "home"), "PREFECT_HOME": str(tmp_path / "prefect-home")}
    env["PREFECT_LOGGING_LEVEL"] = "INFO"  # the data stage's log names the files it read
    imported = _run(
        [python, "-c", "import knowrl, knowrl_cli, storage; print(knowrl.__file__, storage.__file__)"], elsewhere, env
    )
    assert imported.count(str(site_packages)) == 2, imported  # the wheel's modules, not the checkout's

    knowrl = venv / "bin" / "knowrl"
    first = _run([knowrl, "run", "--recipe", "recipes/demo.yaml", "--stages", "data"], elsewhere, env)
    assert "RL 89/89 accepted" in first and f"{site_packages}/knowrl/resources/demo/data/rl.jsonl" in first
    assert (tmp_path / "home" / "warehouse.duckdb").is_file() and not (elsewhere / ".knowrl").exists()
    status = _run([knowrl, "status", "--recipe", "demo"], elsewhere, env)
    assert status.count("yes (cached)") == 1, status
    again = _run([knowrl, "run", "--recipe", "demo", "--stages", "data"], elsewhere, env)
    assert "every stage to run is cached" in again
