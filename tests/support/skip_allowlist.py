"""A pytest plugin that lists every skip of the run with its reason and fails the run on a skip that the allow-list
does not name: a test that silently does not run is a test that cannot fail.

The allow-list (tests/skip_allowlist.yaml) has one entry per acceptable skip: `reason`, a regular expression searched
in the skip's reason; `tests`, glob patterns of the node ids that may take it (`fnmatch`, so `[` needs `[[]`); and
`why`, why that skip is acceptable. tests/conftest.py registers the plugin for every run (the README's command, which
is what CI runs, or any subset): a skip that matches no entry makes the run exit 1 even when every test passed.
xfails are not skips: pytest reports them apart."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass(frozen=True)
class AllowedSkip:
    reason: re.Pattern[str]
    tests: tuple[str, ...]
    why: str

    def allows(self, nodeid: str, reason: str) -> bool:
        return bool(self.reason.search(reason)) and any(fnmatch.fnmatchcase(nodeid, p) for p in self.tests)


@dataclass(frozen=True)
class Skip:
    nodeid: str
    reason: str
    allowed_by: AllowedSkip | None


def load_allowlist(path: Path) -> list[AllowedSkip]:
    """The entries of `path`; a malformed entry is an error (a typo must not allow everything or nothing silently)."""
    import yaml

    raw = yaml.safe_load(path.read_text()) or {}
    entries = raw.get("allowed") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        raise pytest.UsageError(f"{path}: expected a mapping with an `allowed:` list of entries")
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or set(entry) != {"reason", "tests", "why"}:
            raise pytest.UsageError(f"{path}: entry {i} must have exactly `reason`, `tests` and `why`: {entry!r}")
        tests = entry["tests"]
        if isinstance(tests, str) or not tests or not all(isinstance(t, str) and t for t in tests):
            raise pytest.UsageError(f"{path}: entry {i}: `tests` must be a non-empty list of node id patterns")
        if not isinstance(entry["why"], str) or not entry["why"].strip():
            raise pytest.UsageError(f"{path}: entry {i}: `why` must say why the skip is acceptable")
        try:
            pattern = re.compile(entry["reason"])
        except (re.error, TypeError) as exc:
            raise pytest.UsageError(f"{path}: entry {i}: `reason` is not a regular expression: {exc}") from None
        out.append(AllowedSkip(pattern, tuple(tests), " ".join(entry["why"].split())))
    return out


def skip_reason(report: Any) -> str:
    """The reason a skipped test or collector gave (`pytest.skip(reason)`, a skip/skipif mark, importorskip)."""
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return text.removeprefix("Skipped: ")


class SkipAllowlist:
    """Registered as a plugin: collects the skips, prints them, and sets the exit status."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.allowed = load_allowlist(path)
        self.skips: list[Skip] = []

    def _record(self, report: Any) -> None:
        if not report.skipped or hasattr(report, "wasxfail"):
            return
        reason = skip_reason(report)
        match = next((a for a in self.allowed if a.allows(report.nodeid, reason)), None)
        self.skips.append(Skip(report.nodeid, reason, match))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._record(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self._record(report)  # a whole module skipped at import (a module-level skip or importorskip)

    @property
    def unexpected(self) -> list[Skip]:
        return [s for s in self.skips if s.allowed_by is None]

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        # Runs before the terminal summary is written and before pytest returns session.exitstatus.
        if self.unexpected and exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.skips:
            return
        terminalreporter.section("skips (each with its reason)")
        for skip in self.skips:
            verdict = f"allowed: {skip.allowed_by.why}" if skip.allowed_by else "NOT IN THE ALLOW-LIST"
            terminalreporter.write_line(f"SKIPPED {skip.nodeid}: {skip.reason}")
            terminalreporter.write_line(f"    {verdict}")
        if self.unexpected:
            terminalreporter.write_line(
                f"{len(self.unexpected)} skip(s) not in {self.path}: the run fails (exit 1). Make the test run here "
                "(install what it needs, provide its data), or add an entry with its reason, the tests and why.",
                red=True,
                bold=True,
            )
