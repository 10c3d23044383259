"""The `knowrl` command: demo, run, status, and a local Prefect stack for trying deployments."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

# Quiet, offline-friendly Prefect defaults; anything the user set wins.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Prefect gives its temporary server 20 s to start; on a 2-core box running another training that is not enough (a
# run then dies with "Timed out while attempting to connect to ephemeral Prefect API server" before any stage).
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
# No progress bars of transformers ("Loading weights"), datasets or the Hub client: they would tear the live display
# and fill CI logs. Set before any of them is imported (they read these once).
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

from knowrl import resources
from knowrl.errors import KnowrlError, disk_full_message
from knowrl.pipeline.plan import RunPlan
from knowrl.registry import REGISTRY
from knowrl_cli import reaper, stack
from knowrl_cli.progress import run_display
from knowrl_cli.summary import cached_run_refs, print_run_summary, print_status
from storage import Paths

# The demo recipe ships with the package (knowrl/resources): `knowrl demo` works from any folder and from a wheel.
DEMO_RECIPE = resources.recipes_dir() / "demo.yaml"

app = typer.Typer(
    help="KnowRL pipeline: data -> knowledge -> sft -> grpo -> evaluate -> publish", no_args_is_help=True
)
app.add_typer(stack.app, name="stack")
# Wide tables when the output is a file or a CI log; the terminal's width otherwise.
console = Console(width=None if sys.stdout.isatty() else 160)
# Errors go to stderr, each on one line whatever its length (soft wrap: a log or a terminal wraps it, rich does not).
err_console = Console(stderr=True, soft_wrap=True)
_options = {"debug": False}


@app.callback()
def _global(debug: bool = typer.Option(False, "--debug", help="show the traceback behind an error")) -> None:
    _options["debug"] = debug


def _fail(exc: BaseException) -> None:
    """One line: what was wrong and the fix (the exception's message); the traceback only with --debug."""
    if _options["debug"]:
        err_console.print_exception()
    config_like = isinstance(exc, ValueError)  # a bad recipe, option or input: exit 2, like a usage error
    message = (disk_full_message(exc) if isinstance(exc, OSError) else None) or str(exc)
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(2 if config_like else 1) from None


def _storage_errors() -> tuple[type[BaseException], ...]:
    from storage import StorageConfigError, WarehouseError

    return (WarehouseError, StorageConfigError)


def _run(
    recipe: Path, stages: list[str] | None, from_stage: str | None, overrides: list[str], live: bool | None = None
) -> None:
    # Validate the recipe, the overrides and the stage selection before Prefect starts: a typo fails in a second.
    try:
        plan = RunPlan.create(REGISTRY, str(recipe), stages, from_stage, overrides, paths=Paths.from_env())
    except KnowrlError as exc:
        _fail(exc)
    cached = cached_run_refs(plan)
    if cached is not None:
        console.print("every stage to run is cached: the last results are reused (Prefect was not started)")
        print_run_summary(console, cached)
        return
    try:
        plan.preflight()  # e.g. TRL's option names: seconds, before Prefect starts and before any stage computes
    except KnowrlError as exc:
        _fail(exc)
    from flows.knowrl_flow import knowrl

    reaper.watch()  # Prefect's temporary server (and any other child) must not outlive a kill -9 of this command
    try:
        # The live display needs a terminal; in a pipe or a CI log the stages' log lines tell the progress.
        with run_display(console, live=console.is_terminal if live is None else live, debug=_options["debug"]):
            refs = knowrl(recipe=str(recipe), stages=stages, from_stage=from_stage, overrides=overrides)
    except (KnowrlError, *_storage_errors()) as exc:
        _fail(exc)
    except OSError as exc:
        if disk_full_message(exc) is None:
            raise  # not one of ours: the traceback is the useful report
        _fail(exc)
    print_run_summary(console, refs)


@app.command()
def demo(
    overrides: list[str] = typer.Option([], "--set", help="override a recipe key, e.g. --set grpo.max_steps=5"),
    live: bool | None = typer.Option(None, "--live/--no-live", help="live stage display (default: on a terminal)"),
) -> None:
    """Run every stage (curate on) offline on CPU with recipes/demo.yaml, a tiny local model and the demo data."""
    console.print(
        f"[bold]knowrl demo[/bold]: recipe {DEMO_RECIPE}, outputs under {os.environ.get('KNOWRL_HOME', '.knowrl')}"
    )
    _run(DEMO_RECIPE, None, None, overrides, live)


@app.command()
def run(
    recipe: Path = typer.Option(..., "--recipe", "-r", help="recipe YAML"),
    stages: str | None = typer.Option(None, help="comma-separated subset of stages to run"),
    from_stage: str | None = typer.Option(None, "--from-stage", help="re-run this stage and the ones after it"),
    overrides: list[str] = typer.Option([], "--set", help="override a recipe key: section.key=value"),
    live: bool | None = typer.Option(None, "--live/--no-live", help="live stage display (default: on a terminal)"),
) -> None:
    """Run the pipeline (or some stages of it) on a recipe: a path, or a packaged recipe's name (demo)."""
    _run(recipe, [s.strip() for s in stages.split(",")] if stages else None, from_stage, overrides, live)


@app.command()
def status(
    recipe: Path = typer.Option(DEMO_RECIPE, "--recipe", "-r", help="recipe to compare the last runs with"),
    overrides: list[str] = typer.Option([], "--set", help="override a recipe key: section.key=value"),
) -> None:
    """Each stage: its last run, whether it matches the recipe (cached), its artifact and counts."""
    try:
        print_status(console, recipe, overrides)
    except (KnowrlError, FileNotFoundError, *_storage_errors()) as exc:
        _fail(exc)


@app.command()
def runs(
    deployment: str | None = typer.Option(None, "--deployment", "-d", help="only this deployment's, e.g. knowrl/full"),
    limit: int = typer.Option(10, help="how many of the newest runs"),
    wait: str | None = typer.Option(
        None, "--wait", help="a flow run's id or name: wait until it ends, exit 0 if it Completed, else 1"
    ),
    timeout: float = typer.Option(3600.0, help="with --wait: give up after this many seconds (exit 1)"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per run instead of the table"),
) -> None:
    """The flow runs on the Prefect server and their states, read from the server.

    `prefect deployment run ... --watch` follows a run over the server's event stream: when the server restarts it
    prints "Stopped watching flow run ... the events or logs stream closed unexpectedly" and exits 1, like a failed
    run, while the run goes on. The state here is the server's: `knowrl runs --wait <run>` waits for the final one.
    The server is PREFECT_API_URL (with PREFECT_API_AUTH_STRING), else the one `knowrl stack up` started here.
    """
    import json

    from knowrl_cli.server_api import connect, recent_runs, wait_for

    api_url, auth = stack.server_address()
    try:
        with connect(api_url, auth) as client:
            rows = [wait_for(client, wait, timeout)] if wait else recent_runs(client, deployment, limit)
    except KnowrlError as exc:
        _fail(exc)
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row.as_json()))  # one line each: for scripts
    else:
        _print_runs(rows, api_url)
    if wait and rows[0].state_type != "COMPLETED":
        raise typer.Exit(1)


def _print_runs(rows: list[Any], api_url: str) -> None:
    from rich.table import Table

    if not rows:
        console.print(f"no flow runs on {api_url}")
        return
    table = Table(title=f"flow runs on {api_url}, newest first")
    for column in ("started", "flow run", "deployment", "state", "took", "message"):
        table.add_column(column)
    for row in rows:
        started = row.started.astimezone().strftime("%Y-%m-%d %H:%M:%S") if row.started else "-"
        state = row.state or "-"
        table.add_row(
            started, row.name, row.deployment or "-", state if row.final else f"{state} (not final)",
            f"{row.seconds:.0f}s", row.message[:400],
        )  # fmt: skip
    console.print(table)


@app.command("notify-data-updated")
def notify_data_updated(
    dataset: str = typer.Argument(..., help="dataset name, e.g. zjunlp/KnowRL-Train-Data"),
) -> None:
    """Emit the `knowrl.data.updated` event that the `knowrl/retrain` deployment's trigger listens for."""
    from prefect.events import emit_event

    event = emit_event(event="knowrl.data.updated", resource={"prefect.resource.id": f"knowrl.dataset.{dataset}"})
    console.print(f"emitted knowrl.data.updated for {dataset}" if event else "[red]no Prefect API to send it to[/red]")


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
