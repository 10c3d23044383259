"""The task layer's rules: which failures are retried, and the cache key a stage's task computes once and records."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from prefect import flow
from prefect.states import Completed, Failed

from knowrl.config.stages import PublishConfig
from knowrl.errors import BackendError, ConfigError, InputError
from knowrl.pipeline.refs import PublishRef
from knowrl.pipeline.runtime import StageContext
from knowrl.pipeline.stages import cache_key
from storage import WarehouseBusyError
from storage.stage_runs import StageRuns
from tasks.common import finish, result_storage, retry_on_io, stage_task
from tests.support.refs import made_up_ref


@pytest.mark.parametrize(
    ("exc", "retried"),
    [
        (BackendError("judge endpoint down", transient=True), True),  # an endpoint or Hub outage
        (ConnectionError("reset by peer"), True),
        (TimeoutError("read timed out"), True),
        (WarehouseBusyError("locked for 600 s"), True),  # storage's errors share the base and its flag
        (ConfigError("unknown key grpo.max_stepz"), False),  # a bad recipe fails at once, not three times
        (InputError("rl.jsonl row 3: not JSON"), False),
        (FileNotFoundError("recipes/deepspeed/zero9.json"), False),
        (OSError(errno.ENOSPC, "No space left on device"), False),  # a full disk does not empty itself
        (ValueError("a bug"), False),
    ],
)
def test_only_transient_failures_are_retried(exc: BaseException, retried: bool) -> None:
    assert retry_on_io(None, None, Failed(data=exc)) is retried


def test_a_completed_state_is_not_retried() -> None:
    assert retry_on_io(None, None, Completed(data={"stage": "data"})) is False


def test_the_recorded_run_has_the_key_prefect_cached_under(prefect_harness, home: Path, monkeypatch) -> None:
    """The key is computed once, before the body runs (Prefect looks the cache up with it); `finish` records that
    same key, and a second call with the same inputs is a cache hit whose body never runs."""
    monkeypatch.delenv("KNOWRL_PUBLISH_TOKEN", raising=False)
    bodies: list[str] = []

    @stage_task("publish", retries=0)
    def fake_publish(config: PublishConfig, upstream: dict) -> PublishRef:
        bodies.append("ran")
        ref = PublishRef.model_validate(made_up_ref("publish", "bundle-1"))
        return finish("publish", StageContext.from_env(), config, upstream, ref, "# published")

    config = PublishConfig(repo_id="org/model", token_env="KNOWRL_PUBLISH_TOKEN")  # a task gets it validated
    upstream = {"grpo": made_up_ref("grpo", "grpo-1")}

    @flow
    def twice() -> list[PublishRef]:
        options = {"result_storage": result_storage()}
        return [fake_publish.with_options(**options)(config=config, upstream=upstream) for _ in range(2)]

    first, second = twice()
    assert first == second and bodies == ["ran"]
    recorded = StageRuns(StageContext.from_env().warehouse).latest("publish")
    # What key_fn gives Prefect: config, upstream fingerprints, code version, and the token's absence.
    assert recorded["cache_key"] == cache_key("publish", config.model_dump(mode="json"), upstream, "token-unset")

    monkeypatch.setenv("KNOWRL_PUBLISH_TOKEN", "hf_x")  # setting the token changes the key: publish runs again
    twice()
    assert bodies == ["ran", "ran"]
