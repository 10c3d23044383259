"""Rich tables for `knowrl run/demo` results and `knowrl status`."""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from knowrl.errors import KnowrlError
from knowrl.pipeline.plan import RunPlan
from knowrl.pipeline.refs import ArtifactRef, StageRef
from knowrl.pipeline.status import cached_run, stage_statuses
from knowrl.registry import REGISTRY
from storage import Paths, WarehouseNotFoundError, open_warehouse, prefect_result_location
from storage.stage_runs import StageRuns


def print_run_summary(console: Console, refs: dict[str, StageRef]) -> None:
    table = Table(title="knowrl run")
    table.add_column("stage")
    table.add_column("result")
    for stage in REGISTRY.names:
        if stage in refs:
            table.add_row(stage, refs[stage].headline())
        else:
            table.add_row(stage, "[yellow]not run[/yellow] (not selected, or stopped: data unchanged)")
    console.print(table)


def print_status(console: Console, recipe_path: Path, overrides: list[str]) -> None:
    """Each stage: its last run, whether a run of the recipe now would reuse it (the full cache key matches), its
    artifact and result. One line when KNOWRL_HOME holds no runs; never creates or writes a warehouse."""
    paths = Paths.from_env()
    plan = RunPlan.create(REGISTRY, str(recipe_path), overrides=overrides, paths=paths)
    warehouse = open_warehouse(paths, read_only=True)
    try:
        statuses = stage_statuses(plan, StageRuns(warehouse))
    except WarehouseNotFoundError:  # no warehouse, or one no stage ever wrote to
        statuses = []
    if not any(s.last for s in statuses):
        console.print(
            f"no runs yet (KNOWRL_HOME={paths.root}, warehouse {warehouse.describe()}): start one with "
            "`knowrl demo` or `knowrl run --recipe ...`, or point KNOWRL_HOME at the folder that holds your runs",
            highlight=False,
            soft_wrap=True,  # one line, however narrow the terminal: a script can read it
        )
        return
    table = Table(title=f"knowrl status ({paths.root})")
    for column in ("stage", "last run", "matches recipe", "artifact", "result"):
        table.add_column(column)
    results = prefect_result_location(paths)
    for status in statuses:
        if status.last is None:
            table.add_row(status.stage, "never", "-", "-", "-")
            continue
        reason = status.reason
        # Prefect reuses a result only while its record is there (a local folder here; a URL is not checked).
        if status.cached and "://" not in results and not (Path(results) / status.cached["cache_key"]).exists():
            reason = f"Prefect's cached result is gone from {results}"
        matches = f"[yellow]no: {escape(reason)}[/yellow]" if reason else "[green]yes (cached)[/green]"
        ref = status.ref
        artifact = (ref.artifact_id if isinstance(ref, ArtifactRef) else ref.fingerprint if ref else "")[:12]
        table.add_row(
            status.stage, str(status.last["finished_at"])[:19], matches, artifact, ref.headline() if ref else ""
        )
    console.print(table)


def cached_run_refs(plan: RunPlan) -> dict[str, StageRef] | None:
    """The results of a run in which every stage would be a cache hit, read from the warehouse and checked against
    Prefect's result records without starting Prefect: in ephemeral mode Prefect starts a temporary server for
    each run (seconds) only to find that nothing has to run. None when a stage would compute, or when the run goes
    to a Prefect server (PREFECT_API_URL: it is recorded there), to remote deployments or remote result storage."""
    if os.environ.get("KNOWRL_REMOTE_STAGES"):
        return None
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    results = prefect_result_location(plan.paths)
    if settings.api.url or settings.tasks.refresh_cache or "://" in results:
        return None
    try:
        runs = StageRuns(open_warehouse(plan.paths, read_only=True))
        return cached_run(plan, runs, lambda key: (Path(results) / key).is_file())
    except KnowrlError:  # WarehouseNotFoundError among them
        return None  # no runs yet, or a source to probe that the run reports properly
