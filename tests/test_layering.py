"""The layering of DESIGN.md: flows -> tasks -> knowrl -> storage, imports pointing one way only.

knowrl/ and storage/ never import prefect (they run without an orchestrator), never import tasks/ or flows/, and
storage/ never imports knowrl/.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "knowrl": {"prefect", "tasks", "flows", "knowrl_cli"},
    "storage": {"prefect", "tasks", "flows", "knowrl_cli", "knowrl"},
    "tasks": {"flows", "knowrl_cli"},
}


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / package).rglob("*.py")
        for name in _imports(path)
        if name.split(".")[0] in FORBIDDEN[package]
    ]
    assert offenders == []


def test_library_imports_without_loading_prefect() -> None:
    code = (
        "import sys, knowrl.data.stage, knowrl.knowledge.stage, knowrl.rewards, knowrl.evaluate.stage, "
        "knowrl.publish.stage, knowrl.train.grpo, storage; print('prefect' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
