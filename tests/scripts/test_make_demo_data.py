"""The demo data committed under knowrl/resources/demo is what scripts/make_demo_data.py writes from demo/facts.yaml.

A fact edited in facts.yaml without re-running the script (or a script change without its data) would leave the
demo, its tests and the README's figures measured on other data than the facts say.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import REPO_ROOT


def test_committed_demo_data_is_what_the_script_writes(tmp_path: Path) -> None:
    import importlib.util

    import yaml

    spec = importlib.util.spec_from_file_location("make_demo_data", REPO_ROOT / "scripts" / "make_demo_data.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    facts = yaml.safe_load((REPO_ROOT / "demo" / "facts.yaml").read_text())
    counts = script.write(facts, tmp_path)
    assert counts["known"] == 20 and counts["unknown"] == 20 and counts["trained"] == 49, counts

    committed = REPO_ROOT / "knowrl" / "resources" / "demo"
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert written and all((committed / p).exists() for p in written), written
    stale = [str(p) for p in written if (tmp_path / p).read_bytes() != (committed / p).read_bytes()]
    assert not stale, f"re-run scripts/make_demo_data.py: {stale} differ from what demo/facts.yaml gives"
