"""The library and storage layers never import prefect (DESIGN.md: they run without an orchestrator)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("package", ["knowrl", "storage"])
def test_no_prefect_import_in_source(package: str) -> None:
    offenders = []
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] == "prefect"]
    assert offenders == []


def test_library_imports_without_loading_prefect() -> None:
    code = (
        "import sys, knowrl.data.stage, knowrl.knowledge.stage, knowrl.rewards, knowrl.evaluate.stage, "
        "knowrl.publish.stage, knowrl.train.grpo, storage; print('prefect' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
