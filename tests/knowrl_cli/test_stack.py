"""`knowrl stack` reports a failed step at run time as a KnowrlError (one line), not as an invalid option."""

from __future__ import annotations

import os
import sys

import pytest

from knowrl.errors import KnowrlError
from knowrl_cli import automations, stack


def test_a_failed_step_is_a_stack_error_naming_the_step() -> None:
    with pytest.raises(stack.StackError, match="work-pool create gpu failed") as info:
        stack._run([sys.executable, "-c", "import sys; sys.exit(3)", "work-pool", "create", "gpu"], dict(os.environ))
    assert isinstance(info.value, KnowrlError) and not info.value.transient


def test_children_start_with_sigint_at_its_default_even_when_we_ignore_it(tmp_path, monkeypatch) -> None:
    """A Prefect worker stops on SIGTERM by sending itself SIGINT: started with SIGINT ignored (a `cmd &` in a
    script passes that on) it went on polling until killed after its whole grace period."""
    import signal
    import time

    monkeypatch.setenv("KNOWRL_HOME", str(tmp_path))
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        code = "import signal; print(signal.getsignal(signal.SIGINT))"
        pid = stack._spawn("probe", [sys.executable, "-c", code], dict(os.environ))
    finally:
        signal.signal(signal.SIGINT, previous)
    log = tmp_path / "stack" / "probe.log"
    deadline = time.monotonic() + 30
    while "handler" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "default_int_handler" in log.read_text(), log.read_text()
    assert int((tmp_path / "stack" / "probe.pid").read_text()) == pid


def test_the_api_secret_is_generated_once_private_and_env_wins(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KNOWRL_HOME", str(tmp_path))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_API_AUTH_STRING", raising=False)
    assert stack._auth(create=False) is None
    auth = stack._auth(create=True)
    assert auth is not None and auth.startswith("knowrl:") and len(auth) > 40
    assert stack._auth(create=True) == auth  # a second `up` keeps the running server's secret
    assert (tmp_path / "stack" / stack.AUTH_FILE).stat().st_mode & 0o777 == 0o600
    settings = stack._server_settings("http://127.0.0.1:4301/api", auth, tmp_path / "prefect-home")
    assert settings["PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE"] == stack.LEASE_STORAGE
    assert (tmp_path / "stack" / stack.SERVER_ENV).stat().st_mode & 0o777 == 0o600
    assert auth not in (tmp_path / "stack" / stack.SERVER_STATE).read_text()
    assert stack.server_address() == ("http://127.0.0.1:4301/api", auth)
    monkeypatch.setenv("PREFECT_API_URL", "http://10.0.0.5:4200/api")
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", "ops:other")
    assert stack.server_address() == ("http://10.0.0.5:4200/api", "ops:other")


def test_the_zombie_automation_is_valid_for_prefect() -> None:
    from prefect.events.schemas.automations import AutomationCore

    automation = AutomationCore.model_validate(automations.ZOMBIE_AUTOMATION_SPEC)
    assert automation.trigger.within.total_seconds() == automations.CRASH_AFTER_S == 3 * automations.HEARTBEAT_S


def test_the_readme_shows_the_automation_the_stack_creates() -> None:
    """The README's YAML for `prefect automation create --from-file` is the automation `knowrl stack up` creates."""
    import yaml

    from tests.conftest import REPO_ROOT

    readme = (REPO_ROOT / "README.md").read_text()
    block = readme.split(f"```yaml\nname: {automations.ZOMBIE_AUTOMATION}\n", 1)[1].split("```", 1)[0]
    assert yaml.safe_load(f"name: {automations.ZOMBIE_AUTOMATION}\n{block}") == automations.ZOMBIE_AUTOMATION_SPEC


class _FakeServer:
    """The four reads `knowrl stack status` makes, answering as a server whose `tag:gpu` slot was counted by a lease
    a restart lost (no holder) while `tag:io` is held by a running task run."""

    def __init__(self) -> None:
        from types import SimpleNamespace as NS

        self.limits = {"tag:gpu": NS(name="tag:gpu", limit=1, active_slots=1), "tag:io": NS(name="tag:io", limit=2,
                       active_slots=1), "deployment:x": NS(name="deployment:x", limit=1, active_slots=1)}  # fmt: skip
        self.holders = {"gpu": [], "io": ["0190d7a4-0000-7000-8000-000000000001"]}
        state = NS(name="Running", type=NS(value="RUNNING"))
        self.run = NS(id="0190d7a4-0000-7000-8000-000000000001", name="evaluate-3f1", state=state)

    def read_global_concurrency_limits(self, limit: int) -> list:
        return list(self.limits.values())

    def read_global_concurrency_limit_by_name(self, name: str):
        return self.limits[name]

    def read_concurrency_limit_by_tag(self, tag: str):
        from types import SimpleNamespace

        return SimpleNamespace(active_slots=self.holders[tag])

    def read_task_runs(self, task_run_filter) -> list:
        return [self.run]


def test_status_names_a_slot_held_by_no_running_holder_and_the_command_that_frees_it(tmp_path, monkeypatch) -> None:
    import contextlib

    from typer.testing import CliRunner

    from knowrl_cli import server_api

    monkeypatch.setenv("KNOWRL_HOME", str(tmp_path))
    monkeypatch.setattr(stack, "_healthy", lambda url: True)
    monkeypatch.setattr(server_api, "connect", lambda url, auth: contextlib.nullcontext(_FakeServer()))
    result = CliRunner().invoke(stack.app, ["status", "--port", "4399"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "tag:gpu: 1 of 1 slot(s) held: no running holder for 1 slot(s) counted without a lease" in result.output
    assert "  held with no running holder; frees them now: prefect gcl update tag:gpu --active-slots 0" in lines
    assert "tag:io: 1 of 2 slot(s) held: held by task run 'evaluate-3f1' (Running)" in lines
    assert not any(line.startswith("deployment:") for line in lines)  # not a tag's: its holders are flow runs
