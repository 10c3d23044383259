"""The skip allow-list fails a run on a skip it does not name, lists every skip with its reason, and reads the suite's
own allow-list (tests/skip_allowlist.yaml) without error."""

from __future__ import annotations

import pytest

from tests.conftest import REPO_ROOT
from tests.support.skip_allowlist import load_allowlist

CONFTEST = """
from pathlib import Path

from tests.support.skip_allowlist import SkipAllowlist


def pytest_configure(config):
    config.pluginmanager.register(SkipAllowlist(Path(__file__).parent / "allow.yaml"), "knowrl-skip-allowlist")
"""
ALLOW = """
allowed:
  - reason: "^needs a full disk"
    tests: ["test_probes.py::test_full_disk*"]
    why: the machine cannot mount a tmpfs
"""
TESTS = """
import pytest

def test_runs():
    pass

def test_full_disk_write():
    pytest.skip("needs a full disk here")

@pytest.mark.xfail(reason="known bug", strict=True)
def test_known_bug():
    raise ValueError
"""


@pytest.fixture
def probes(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makefile(".yaml", allow=ALLOW)
    pytester.makepyfile(test_probes=TESTS)
    return pytester


def test_allowed_skips_pass_and_are_listed_with_their_reason(probes: pytest.Pytester) -> None:
    result = probes.runpytest_inprocess()
    result.assert_outcomes(passed=1, skipped=1, xfailed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "*skips (each with its reason)*",
            "SKIPPED test_probes.py::test_full_disk_write: needs a full disk here",
            "    allowed: the machine cannot mount a tmpfs",
        ]
    )


def test_a_skip_not_in_the_allowlist_fails_the_run(probes: pytest.Pytester) -> None:
    probes.makepyfile(
        test_more="""
        import pytest

        @pytest.mark.skipif(True, reason="../shared/data is not beside this checkout")
        def test_on_real_data():
            pass

        def test_full_disk_elsewhere():
            pytest.skip("needs a full disk too")  # the reason is allowed, but not for this test
        """
    )
    result = probes.runpytest_inprocess()
    result.assert_outcomes(passed=1, skipped=3, xfailed=1)  # every test that ran passed: the skips fail the run
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines_random(
        [
            "SKIPPED test_more.py::test_on_real_data: ../shared/data is not beside this checkout",
            "SKIPPED test_more.py::test_full_disk_elsewhere: needs a full disk too",
            "    NOT IN THE ALLOW-LIST",
            "2 skip(s) not in *allow.yaml: the run fails (exit 1)*",
        ]
    )


def test_a_module_skipped_at_import_counts(probes: pytest.Pytester) -> None:
    probes.makepyfile(test_extra="""import pytest\npytest.importorskip("no_such_module_here")\n""")
    result = probes.runpytest_inprocess()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["SKIPPED test_extra.py: could not import 'no_such_module_here'*"])


def test_a_failing_run_keeps_its_own_status(probes: pytest.Pytester) -> None:
    probes.makepyfile(test_broken="def test_broken():\n    assert False\n")
    assert probes.runpytest_inprocess().ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize(
    "entry",
    [
        '{reason: "x", tests: ["*"]}',  # no why
        '{reason: "x", tests: "*", why: "w"}',  # tests not a list
        '{reason: "(", tests: ["*"], why: "w"}',  # not a regular expression
        '{reason: "x", tests: ["*"], why: "w", when: "CI"}',  # an unknown key: a typo must not be ignored
    ],
)
def test_a_malformed_entry_is_an_error(pytester: pytest.Pytester, entry: str) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makefile(".yaml", allow=f"allowed:\n  - {entry}\n")
    pytester.makepyfile(test_probes="def test_runs():\n    pass\n")
    result = pytester.runpytest_inprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*allow.yaml: entry 0*"])


def test_the_suites_allowlist_loads_and_says_why_for_each_entry() -> None:
    entries = load_allowlist(REPO_ROOT / "tests" / "skip_allowlist.yaml")
    assert entries and all(len(e.why) > 20 for e in entries)
    tmpfs = [
        e for e in entries if e.allows("tests/faults/test_x.py::test_disk_full", "cannot mount a tmpfs at /x: no")
    ]
    assert tmpfs and not any(
        e.allows("tests/knowrl/data/test_stage.py::test_real", "cannot mount a tmpfs") for e in entries
    )
    assert not any(
        e.allows("tests/knowrl/data/test_stage.py::t", "../shared/data is not beside this checkout") for e in entries
    )
