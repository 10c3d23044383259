"""The `gpu` concurrency slot of the GPU stages, taken by the stage's task itself (not through a `gpu` task tag) so
that a stage that waits for it says for how long and who holds it.

Prefect takes a tagged task's slot before the task starts and waits in silence: the task run shows Pending and the
only message is at DEBUG level, in a logger that never reaches the run's logs. After a server restart had lost a
lease, every GPU stage waited on a slot that nobody held, and nothing said so (issue 24). Here the stage asks for a
slot of the same limit, `tag:gpu`, so `prefect concurrency-limit create gpu 1`, `prefect concurrency-limit inspect
gpu` and the UI work as before. The lease is held by the stage's task run. While the stage waits it logs, at most
every `LOG_EVERY_S`, the holders' task runs and their states, or that no running holder is left and the command
that frees the slot. Only a stage that computes takes the slot: a cache hit never waits for a GPU.

The lease lasts `LEASE_S` = 60 s (what Prefect gives a tag's slot) and is renewed every `RENEW_EVERY_S` = 15 s by a
thread of the stage's process. A stage of any length keeps its slot while its process lives. A holder that died (its
worker or its machine was killed) stops renewing, and the server's repossessor, which runs every 15 s, frees the
slot at most 75 s after the last renewal. Renewing at a quarter of the lease rides out a server restart of up to
~45 s. That needs leases the restart keeps: `knowrl stack up` runs the server with
`PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE=prefect.server.concurrency.lease_storage.filesystem`. With Prefect's
default, leases kept in the server's memory, a restart loses the lease while the database keeps the slot counted.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import httpx

GPU_TAG = "gpu"
LEASE_S = 60.0
RENEW_EVERY_S = 15.0
LOG_EVERY_S = 60.0
REPOSSESSOR_LOOP_S = 15.0  # PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS' default
RECLAIM_WITHIN_S = LEASE_S + REPOSSESSOR_LOOP_S
_LOCKED = 423  # the server's answer while every slot is taken; its Retry-After says when to ask again
_LEASE_GONE = (404, 410)


@dataclass(frozen=True)
class Holder:
    """A task run holding a slot of a tag's limit, as the server knows it."""

    task_run_id: str
    name: str | None = None  # None: the server knows no such task run
    state: str | None = None  # the state's name, e.g. "Running", "Completed", "Crashed"
    state_type: str | None = None  # e.g. "RUNNING"

    @property
    def running(self) -> bool:
        return self.state_type == "RUNNING"

    def describe(self) -> str:
        if self.name is None:
            return f"task run {self.task_run_id} (unknown to the server)"
        return f"task run '{self.name}' ({self.state})"


@dataclass(frozen=True)
class SlotUse:
    """How a tag's limit is used: the slots the server counts, and the task runs whose leases hold them."""

    tag: str
    limit: int
    active: int
    holders: list[Holder] = field(default_factory=list)

    @property
    def limit_name(self) -> str:
        return f"tag:{self.tag}"

    @property
    def running(self) -> list[Holder]:
        return [h for h in self.holders if h.running]

    @property
    def stuck(self) -> bool:
        """Some counted slot is not held by a running task run."""
        return self.active > len(self.running)

    @property
    def free_command(self) -> str:
        """The one command that sets the count to what the running holders really hold."""
        return f"prefect gcl update {self.limit_name} --active-slots {len(self.running)}"

    def describe(self) -> str:
        """Who holds the slots, or why a counted slot has no running holder and how it gets freed."""
        parts = [f"held by {h.describe()}" for h in self.running]
        finished = [h for h in self.holders if not h.running]
        if finished:
            # The holder's process is gone or done; its lease is no longer renewed and the server reclaims it.
            names = ", ".join(h.describe() for h in finished)
            parts.append(
                f"no running holder for {len(finished)} slot(s): {names}; Prefect frees a lease nobody renews within "
                f"{RECLAIM_WITHIN_S:.0f} s of its last renewal"
            )
        unleased = self.active - len(self.holders)
        if unleased > 0:
            # Counted without a lease: a lease lost with a server that kept them in memory. Nothing frees it.
            parts.append(
                f"no running holder for {unleased} slot(s) counted without a lease (lost in a server restart?); "
                f"free it with `{self.free_command}`"
            )
        return "; ".join(parts) or "no holder"


def slot_use(client: Any, tag: str = GPU_TAG) -> SlotUse | None:
    """The use of the limit of `tag` (None when the server has no such limit), `client` a sync Prefect client."""
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterId
    from prefect.exceptions import ObjectNotFound

    try:
        limit = client.read_global_concurrency_limit_by_name(f"tag:{tag}")
    except ObjectNotFound:
        return None
    ids = [str(i) for i in client.read_concurrency_limit_by_tag(tag).active_slots]
    runs = {}
    if ids:
        found = client.read_task_runs(task_run_filter=TaskRunFilter(id=TaskRunFilterId(any_=[UUID(i) for i in ids])))
        runs = {str(run.id): run for run in found}
    holders = []
    for run_id in ids:
        run = runs.get(run_id)
        state = run.state if run is not None else None
        holders.append(
            Holder(
                run_id,
                run.name if run is not None else None,
                state.name if state is not None else None,
                state.type.value if state is not None else None,
            )
        )
    return SlotUse(tag, limit.limit, limit.active_slots, holders)


def held_slots(client: Any) -> list[SlotUse]:
    """Every tag limit with a slot counted, with its holders."""
    uses = []
    for limit in client.read_global_concurrency_limits(limit=200):
        if limit.name.startswith("tag:") and limit.active_slots > 0:
            use = slot_use(client, limit.name.removeprefix("tag:"))
            if use is not None:
                uses.append(use)
    return uses


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(max(float(response.headers.get("Retry-After", 10)), 1.0), 30.0)
    except ValueError:
        return 10.0


class _Renewal:
    """A thread that renews a lease every `every_s` until stopped; it warns once per failure streak."""

    def __init__(self, lease_id: UUID, lease_s: float, every_s: float, warn: Callable[[str], None]) -> None:
        self.lease_id, self.lease_s, self.every_s, self.warn = lease_id, lease_s, every_s, warn
        self.renewals = 0
        self._stop = threading.Event()
        # The Prefect client reads its settings (API URL, auth) from the context the stage runs in.
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._loop,), daemon=True, name=f"knowrl-lease-renewal-{lease_id}"
        )

    def __enter__(self) -> _Renewal:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        from prefect.client.orchestration import get_client

        failing = False
        with get_client(sync_client=True) as client:
            while not self._stop.wait(self.every_s):
                try:
                    client.renew_concurrency_lease(self.lease_id, lease_duration=self.lease_s)
                except httpx.HTTPStatusError as exc:
                    if exc.response.status_code in _LEASE_GONE:
                        self.warn(
                            f"the lease of this stage's slot is gone (HTTP {exc.response.status_code}: the server "
                            "reclaimed it while it was not renewed): another stage may now take the slot as well"
                        )
                        return
                    failing = failing or self._failed(exc)
                except Exception as exc:  # the server is restarting or unreachable: try again at the next turn
                    failing = failing or self._failed(exc)
                else:
                    self.renewals += 1
                    failing = False

    def _failed(self, exc: BaseException) -> bool:
        self.warn(
            f"could not renew the lease of this stage's slot ({type(exc).__name__}: {exc}); trying again every "
            f"{self.every_s:.0f} s, the lease lasts {self.lease_s:.0f} s"
        )
        return True


@contextlib.contextmanager
def concurrency_slot(
    tag: str = GPU_TAG,
    *,
    info: Callable[[str], None],
    warn: Callable[[str], None],
    holder: UUID | None = None,
    lease_s: float = LEASE_S,
    renew_every_s: float = RENEW_EVERY_S,
    log_every_s: float = LOG_EVERY_S,
) -> Iterator[None]:
    """Hold a slot of the limit `tag:<tag>` for the block; wait for one, saying so at most every `log_every_s`.

    `holder` is the task run that holds the lease (what `prefect concurrency-limit inspect` and `knowrl stack
    status` show). When the server has no such limit (a `knowrl run` with its temporary server), nothing is held.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import ConcurrencyLeaseHolder

    name = f"tag:{tag}"
    lease_holder = ConcurrencyLeaseHolder(type="task_run", id=holder) if holder is not None else None
    started = time.monotonic()
    last_log = -float("inf")
    with get_client(sync_client=True) as client:
        while True:
            try:
                response = client.increment_concurrency_slots_with_lease(
                    names=[name], slots=1, mode="concurrency", lease_duration=lease_s, holder=lease_holder
                )
                break
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code != _LOCKED:
                    raise
                if time.monotonic() - last_log >= log_every_s:
                    last_log = time.monotonic()
                    use = slot_use(client, tag)
                    count = f"{use.active} of {use.limit} in use" if use else "limit gone"
                    said = use.describe() if use else "the limit was deleted"
                    info(f"waiting for the {tag} slot ({count}) for {time.monotonic() - started:.0f} s: {said}")
                time.sleep(_retry_after(exc.response))
        body = response.json()
        lease_id = UUID(body["lease_id"])
        if not body.get("limits"):
            client.release_concurrency_slots_with_lease(lease_id)  # a lease on no limit: nothing to hold
            yield
            return
        info(f"took the {tag} slot after {time.monotonic() - started:.1f} s (lease {lease_id}, {lease_s:.0f} s)")
        try:
            with _Renewal(lease_id, lease_s, renew_every_s, warn):
                yield
        finally:
            try:
                client.release_concurrency_slots_with_lease(lease_id)
            except Exception as exc:  # the stage's own outcome matters more; the lease runs out by itself
                warn(
                    f"could not release the {tag} slot ({type(exc).__name__}: {exc}); the server frees it within "
                    f"{lease_s + REPOSSESSOR_LOOP_S:.0f} s"
                )
