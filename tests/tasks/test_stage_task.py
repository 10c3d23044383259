"""The task layer's rules: which failures are retried, and the cache key a stage's task computes once and records."""

from __future__ import annotations

import dataclasses
import errno
from pathlib import Path

import pytest
from prefect import flow
from prefect.states import Completed, Failed

from knowrl.errors import BackendError, ConfigError, InputError
from knowrl.pipeline.keys import stage_key
from knowrl.pipeline.runtime import StageContext
from knowrl.publish.config import PublishConfig
from knowrl.publish.result import PublishRef
from knowrl.registry import REGISTRY
from storage import WarehouseBusyError
from storage.stage_runs import StageRuns
from tasks.stage_task import result_storage, retry_on_io, stage_task
from tests.support.refs import made_up_ref

BODIES: list[str] = []


def fake_publish(config: PublishConfig, upstream: dict, ctx: StageContext) -> PublishRef:
    """The run function of a publish stage that only counts its calls."""
    BODIES.append("ran")
    return PublishRef.model_validate(made_up_ref("publish", "bundle-1"))


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
    """The key is computed once, before the body runs (Prefect looks the cache up with it); the task records that
    same key, and a second call with the same inputs is a cache hit whose body never runs."""
    monkeypatch.delenv("KNOWRL_PUBLISH_TOKEN", raising=False)
    BODIES.clear()
    spec = dataclasses.replace(REGISTRY["publish"], run=f"{__name__}:fake_publish")
    task = stage_task(spec)
    config = PublishConfig(repo_id="org/model", token_env="KNOWRL_PUBLISH_TOKEN")  # a task gets it validated
    upstream = {"grpo": REGISTRY.result("grpo", made_up_ref("grpo", "grpo-1"))}

    @flow
    def twice() -> list[PublishRef]:
        options = {"result_storage": result_storage()}
        return [task.with_options(**options)(config=config, upstream=upstream, recipe={}) for _ in range(2)]

    first, second = twice()
    assert first == second and BODIES == ["ran"]
    recorded = StageRuns(StageContext.from_env().warehouse).latest("publish")
    # What the key function gives Prefect: config, upstream fingerprints, code version, and the token's absence.
    assert recorded["cache_key"] == stage_key(spec, config, upstream)
    assert recorded["cache_key"].startswith("knowrl-publish-")

    monkeypatch.setenv("KNOWRL_PUBLISH_TOKEN", "hf_x")  # setting the token changes the key: publish runs again
    twice()
    assert BODIES == ["ran", "ran"]


def test_an_object_store_that_does_not_answer_is_one_line_naming_the_bucket(monkeypatch) -> None:
    from botocore.exceptions import EndpointConnectionError

    from knowrl.errors import KnowrlError
    from tasks.stage_task import object_store_answers

    monkeypatch.setenv("KNOWRL_ARTIFACTS_URL", "s3://acme-knowrl/knowrl")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    url = "http://127.0.0.1:9000/acme-knowrl/knowrl/checkpoints/sft-1/checkpoint-1/KNOWRL_COMPLETE"
    with pytest.raises(KnowrlError) as info, object_store_answers():
        try:  # as s3fs raises it: its own error, from the client's
            raise EndpointConnectionError(endpoint_url=url)
        except EndpointConnectionError as exc:
            raise OSError("upload failed") from exc
    message = str(info.value)
    assert "\n" not in message and "s3://acme-knowrl/knowrl" in message and "http://127.0.0.1:9000" in message
    assert "EndpointConnectionError" in message and isinstance(info.value.__cause__, OSError)

    # Anything else passes unchanged: a connection refused by another service is not the object store's.
    with pytest.raises(ConnectionRefusedError), object_store_answers():
        raise ConnectionRefusedError("judge endpoint")
