"""The gpu stages' concurrency slot (tasks/slots.py): one holder at a time, a waiter that says whom it waits for,
and the words for a slot counted with no running holder."""

from __future__ import annotations

import threading
import time
import uuid

from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.context import TaskRunContext

from tasks.slots import RECLAIM_WITHIN_S, Holder, SlotUse, concurrency_slot, slot_use

NAMED = "held by task run 'holder' (Running)"


def test_a_waiting_stage_says_who_holds_the_slot_and_gets_it_once_freed(prefect_harness) -> None:
    tag = f"gpu-test-{uuid.uuid4().hex[:8]}"  # its own limit: other tests on the session's server never see it
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=f"tag:{tag}", limit=1))
    said: dict[str, list[str]] = {"holder": [], "waiter": []}
    holding, release = threading.Event(), threading.Event()
    held_by_waiter_while_holder_held: list[bool] = []

    @task(task_run_name="holder")
    def hold() -> None:
        run = TaskRunContext.get().task_run
        with concurrency_slot(tag, info=said["holder"].append, warn=said["holder"].append, holder=run.id):
            holding.set()
            release.wait(60)
            held_by_waiter_while_holder_held.append(any("took" in line for line in said["waiter"]))

    @task(task_run_name="waiter")
    def wait() -> None:
        holding.wait(60)
        run = TaskRunContext.get().task_run
        log = said["waiter"].append
        with concurrency_slot(tag, info=log, warn=log, holder=run.id, log_every_s=0.0):
            pass

    @flow
    def both() -> None:
        futures = [hold.submit(), wait.submit()]
        # The holder's task run reaches the server's database through its event pipeline, a moment after it took
        # the slot: until then the waiter (saying so at every poll here) names it as unknown to the server.
        deadline = time.monotonic() + 60
        while not any(NAMED in line for line in said["waiter"]) and time.monotonic() < deadline:
            time.sleep(0.2)
        release.set()
        for future in futures:
            future.result()

    both()
    waiting = [line for line in said["waiter"] if line.startswith("waiting")]
    assert waiting, said
    assert f"waiting for the {tag} slot (1 of 1 in use)" in waiting[0]
    assert any(NAMED in line for line in waiting), waiting
    assert held_by_waiter_while_holder_held == [False]  # one at a time
    assert any(line.startswith(f"took the {tag} slot") for line in said["waiter"])
    with get_client(sync_client=True) as client:
        use = slot_use(client, tag)
    assert use is not None and use.active == 0 and use.holders == []


def test_without_a_limit_nothing_is_held(prefect_harness) -> None:
    said: list[str] = []
    with concurrency_slot(f"no-such-limit-{uuid.uuid4().hex[:8]}", info=said.append, warn=said.append):
        pass
    assert said == []


def test_a_slot_with_no_running_holder_is_named_with_the_command_that_frees_it() -> None:
    running = Holder("a", "sft-abc", "Running", "RUNNING")
    crashed = Holder("b", "grpo-def", "Crashed", "CRASHED")
    live = SlotUse("gpu", limit=2, active=1, holders=[running])
    assert live.describe() == "held by task run 'sft-abc' (Running)" and not live.stuck

    finished = SlotUse("gpu", limit=1, active=1, holders=[crashed])
    assert finished.stuck and f"within {RECLAIM_WITHIN_S:.0f} s" in finished.describe()
    assert "task run 'grpo-def' (Crashed)" in finished.describe()

    leaked = SlotUse("gpu", limit=2, active=2, holders=[running])  # one counted slot has no lease at all
    assert leaked.stuck and leaked.free_command == "prefect gcl update tag:gpu --active-slots 1"
    assert "counted without a lease" in leaked.describe() and leaked.free_command in leaked.describe()
