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


def _library_imports(folder: str) -> list[tuple[str, str]]:
    """(file, imported knowrl module) for every absolute knowrl import under knowrl/<folder>, at any depth (a lazy
    import inside a function is an import too)."""
    return [
        (str(path.relative_to(ROOT)), name)
        for path in (ROOT / "knowrl" / folder).rglob("*.py")
        for name in _imports(path)
        if name.startswith("knowrl.")
    ]


def _stage_packages() -> set[str]:
    """The packages the registry's stages own (their spec lives there), read from the registry."""
    from knowrl.registry import REGISTRY

    return {spec.run.split(":")[0].rsplit(".", 1)[0] for spec in REGISTRY}


def test_the_kernel_imports_no_stage_and_no_registry() -> None:
    """knowrl/pipeline is below the stages: it gets the registry as an argument and never names a stage package."""
    forbidden = (*_stage_packages(), "knowrl.registry", "knowrl.rewards", "knowrl.judges", "knowrl.transport")
    offenders = [f"{f}: {n}" for f, n in _library_imports("pipeline") if n.startswith(forbidden)]
    assert offenders == []


def test_no_stage_imports_the_registry() -> None:
    """The registry is the top of the library (it imports every stage's spec): a stage importing it would loop."""
    offenders = [
        f"{f}: {n}"
        for package in _stage_packages()
        for f, n in _library_imports(package.removeprefix("knowrl.").replace(".", "/"))
        if n.startswith("knowrl.registry")
    ]
    assert offenders == []


def test_the_transport_knows_no_judging_rule_and_no_stage() -> None:
    """knowrl/transport carries requests: it imports neither the judges (what to ask) nor rewards or stages."""
    forbidden = (*_stage_packages(), "knowrl.registry", "knowrl.judges", "knowrl.rewards", "knowrl.pipeline")
    offenders = [f"{f}: {n}" for f, n in _library_imports("transport") if n.startswith(forbidden)]
    assert offenders == []
