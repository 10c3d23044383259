"""What the `knowrl` commands read from a Prefect server: the flow runs of the deployments and their final states
(`knowrl runs`), and the held concurrency slots (`knowrl stack status`, through tasks/slots.py).

`prefect deployment run ... --watch` follows a run over the server's event stream. When the server restarts, the
stream closes: the CLI prints "Stopped watching flow run ... because the events or logs stream closed unexpectedly"
and exits 1, the same code as a failed run, while the run goes on (its worker and its clients retry). The run's
state is kept by the server, so `knowrl runs` (or `knowrl runs --wait RUN`) reads it from there.
"""

from __future__ import annotations

import contextlib
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from knowrl.errors import KnowrlError


class ServerError(KnowrlError):
    """The Prefect server did not answer, refused our credentials, or does not know what was asked for."""

    transient = True


def answers(api_url: str) -> bool:
    """GET /health answers 200 (the one path that needs no credentials)."""
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def connect(api_url: str, auth: str | None) -> Iterator[Any]:
    """A sync Prefect client of the server at `api_url`, sending `auth` (user:secret); one-line errors when it does
    not answer or refuses the credentials."""
    import httpx
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    if not answers(api_url):
        raise ServerError(
            f"no Prefect server answers at {api_url}: start it (`knowrl stack up`, or `knowrl stack server` after a "
            "crash) or set PREFECT_API_URL"
        )
    updates: dict[Any, Any] = {PREFECT_API_URL: api_url}
    if auth:
        updates[PREFECT_API_AUTH_STRING] = auth
    try:
        with temporary_settings(updates=updates), get_client(sync_client=True) as client:
            yield client
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code == 401:
            raise ServerError(
                f"the Prefect server at {api_url} refused our credentials (HTTP 401): set PREFECT_API_AUTH_STRING to "
                'the stack\'s secret, e.g. export PREFECT_API_AUTH_STRING="$(cat $KNOWRL_HOME/stack/api-auth)"'
            ) from None
        raise


@dataclass(frozen=True)
class RunRow:
    """One flow run as `knowrl runs` shows it."""

    id: str
    name: str
    deployment: str | None
    state: str | None  # the state's name, e.g. "Completed", "Crashed", "AwaitingConcurrencySlot"
    state_type: str | None  # e.g. "COMPLETED"
    final: bool
    started: datetime | None
    ended: datetime | None
    seconds: float
    message: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "deployment": self.deployment,
            "state": self.state,
            "state_type": self.state_type,
            "final": self.final,
            "started": self.started.isoformat() if self.started else None,
            "ended": self.ended.isoformat() if self.ended else None,
            "seconds": round(self.seconds, 1),
            "message": self.message,
        }


def _deployment_names(client: Any, ids: set[UUID]) -> dict[UUID, str]:
    """`flow/deployment` of each deployment id."""
    names: dict[UUID, str] = {}
    flows: dict[UUID, str] = {}
    for deployment_id in ids:
        deployment = client.read_deployment(deployment_id)
        if deployment.flow_id not in flows:
            flows[deployment.flow_id] = client.read_flow(deployment.flow_id).name
        names[deployment_id] = f"{flows[deployment.flow_id]}/{deployment.name}"
    return names


def _row(run: Any, deployments: dict[UUID, str]) -> RunRow:
    state = run.state
    return RunRow(
        id=str(run.id),
        name=run.name,
        deployment=deployments.get(run.deployment_id) if run.deployment_id else None,
        state=state.name if state else None,
        state_type=state.type.value if state else None,
        final=bool(state and state.is_final()),
        started=run.start_time,
        ended=run.end_time,
        seconds=run.total_run_time.total_seconds() if run.total_run_time else 0.0,
        message=" ".join((state.message or "").split()) if state else "",
    )


def recent_runs(client: Any, deployment: str | None = None, limit: int = 10) -> list[RunRow]:
    """The newest flow runs (of one deployment, `flow/name`, when given), newest first; runs a schedule created for
    later (`knowrl/retrain`'s) are left out."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
    )
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.exceptions import ObjectNotFound

    deployment_filter = None
    if deployment:
        try:
            found = client.read_deployment_by_name(deployment)
        except ObjectNotFound:
            raise ServerError(
                f"no deployment {deployment!r} on the server: `prefect deployment ls` lists them"
            ) from None
        deployment_filter = DeploymentFilter(id=DeploymentFilterId(any_=[found.id]))
    started = FlowRunFilter(expected_start_time=FlowRunFilterExpectedStartTime(before_=datetime.now(UTC)))
    runs = client.read_flow_runs(
        flow_run_filter=started,
        deployment_filter=deployment_filter,
        sort=FlowRunSort.EXPECTED_START_TIME_DESC,
        limit=limit,
    )
    names = _deployment_names(client, {r.deployment_id for r in runs if r.deployment_id})
    return [_row(run, names) for run in runs]


def find_run(client: Any, run: str) -> RunRow:
    """One flow run by its id or its name (what `prefect deployment run` printed)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
    from prefect.exceptions import ObjectNotFound

    try:
        found = [client.read_flow_run(UUID(run))]
    except ValueError:  # not a UUID: a name such as "elegant-cougar"
        found = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[run])), limit=2)
    except ObjectNotFound:
        found = []
    if len(found) != 1:
        what = "no flow run" if not found else "more than one flow run"
        raise ServerError(f"{what} with the id or name {run!r}: `knowrl runs` lists the newest ones")
    names = _deployment_names(client, {found[0].deployment_id} if found[0].deployment_id else set())
    return _row(found[0], names)


def wait_for(client: Any, run: str, timeout: float, poll_s: float = 5.0) -> RunRow:
    """Poll the run's state until it is final (or `timeout` seconds passed); the last row read. Connection errors
    while the server restarts are ridden out by the client's own retries."""
    deadline = time.monotonic() + timeout
    row = find_run(client, run)
    while not row.final and time.monotonic() < deadline:
        time.sleep(poll_s)
        row = find_run(client, row.id)
    return row
