"""Fault injection, the one mechanism: hooks that wrap real functions of the pipeline at named points, so that a test
can kill a process exactly there, or make a stage fail as an outage would. Nothing in the pipeline's own code knows
about it.

Two ways in:
- the driver runs the `knowrl` CLI, or the stage library without Prefect, in this process with a hook:

    python -m tests.faults.inject POINT cli run --recipe recipes/demo.yaml --stages data,knowledge
    python -m tests.faults.inject POINT lib data,knowledge --set knowledge.passage_max_tokens=32

- processes the test does not start itself (a Prefect worker's flow runs) get the hooks from `$KNOWRL_FAULTS`
  (comma-separated points) through `tests/faults/startup/sitecustomize.py`, put on their PYTHONPATH by `fault_env`.

Points that stop a process write `$KNOWRL_FAULT_MARKER` (JSON: pid, point) and then, as `$KNOWRL_FAULT_ACTION` says,
send themselves SIGKILL (`kill`), sleep until the test kills them (`pause`, the default: the test can look at the
process tree first), or wait until the test creates `$KNOWRL_FAULT_MARKER.release` and then go on (`hold`, once per
point and process: the test breaks a service while the stage stands at that point, then lets it meet the fault).
Points named `<stage>@start` and `<stage>@checkpoint` raise `InjectedFailure` instead: once at the stage's start (a
marker under KNOWRL_HOME remembers), or right after the first checkpoint of a run that did not resume (so a rerun,
even on another worker, resumes from it). POINT `none` runs without a hook. Hooks are installed
when their module is imported (or at once, if it already is), and call the real functions.
"""

from __future__ import annotations

import argparse
import functools
import importlib.abc
import importlib.util
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MARKER_ENV = "KNOWRL_FAULT_MARKER"
ACTION_ENV = "KNOWRL_FAULT_ACTION"
FAULTS_ENV = "KNOWRL_FAULTS"
REFS_FILE = "fault-refs.json"
_HELD: set[str] = set()  # points this process already held at (`hold` holds once per point)
STARTUP = Path(__file__).resolve().parent / "startup"
REPO_ROOT = Path(__file__).resolve().parents[2]


class InjectedFailure(RuntimeError):
    """Raised by a `<stage>@start` or `<stage>@checkpoint` fault, as a real failure of the stage would be."""


def fault_env(points: str) -> dict[str, str]:
    """Environment variables that make every Python process started with them install the hooks of `points`."""
    path = os.pathsep.join([str(STARTUP), str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {FAULTS_ENV: points, "PYTHONPATH": path}


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs a patch right after a module is first imported (the module's own loader does the import)."""

    def __init__(self, module: str, patch: Callable[[Any], None]) -> None:
        self.module, self.patch = module, patch

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != self.module:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        loader, patch = spec.loader, self.patch

        class Patching(importlib.abc.Loader):
            def create_module(self, spec: Any) -> Any:
                return loader.create_module(spec)

            def exec_module(self, module: Any) -> None:
                loader.exec_module(module)
                patch(module)

        spec.loader = Patching()
        sys.meta_path.remove(self)  # once
        return spec


def when_imported(module: str, patch: Callable[[Any], None]) -> None:
    """`patch(module)` now if `module` is imported, else right after its import."""
    if module in sys.modules:
        patch(sys.modules[module])
    else:
        sys.meta_path.insert(0, _AfterImport(module, patch))


def hit(point: str) -> None:
    """The process reached `point`: say so, then die here (kill), wait to be killed (pause) or to be let go (hold)."""
    action = os.environ.get(ACTION_ENV, "pause")
    if action == "hold" and point in _HELD:
        return
    marker = os.environ.get(MARKER_ENV)
    if marker:
        tmp = Path(f"{marker}.tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "point": point}))
        tmp.rename(marker)  # the test never reads half a marker
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if action == "hold" and marker:
        _HELD.add(point)
        release = Path(f"{marker}.release")
        while not release.exists():
            time.sleep(0.1)
        release.unlink()
        return
    while True:  # pause: the test kills us with SIGKILL
        time.sleep(60)


def _after(owner: Any, name: str, point: str, when: Callable[..., bool] = lambda *a, **k: True) -> None:
    """Stop right after `owner.name(...)` returns (when `when(*args)` holds)."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if when(*args, **kwargs):
            hit(point)
        return result

    setattr(owner, name, wrapper)


def _before(owner: Any, name: str, point: str) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        hit(point)
        return original(*args, **kwargs)

    setattr(owner, name, wrapper)


def _inside_transaction(family: str, point: str) -> None:
    """Stop inside the first warehouse write transaction of `family`, after its statements and before COMMIT."""
    from storage.warehouse import Warehouse

    original = Warehouse.write

    def write(self: Warehouse, fn: Callable[[Any], Any], *, serialize: str | None = None) -> Any:
        if serialize != family:
            return original(self, fn, serialize=serialize)

        def then_stop(con: Any) -> Any:
            fn(con)
            hit(point)

        return original(self, then_stop, serialize=serialize)

    Warehouse.write = write  # type: ignore[method-assign]


def _fail_at_start(stage: str) -> Callable[[Any], None]:
    """The stage's run function raises once (a marker under KNOWRL_HOME), as a failing stage would."""

    def patch(launch: Any) -> None:
        name = f"train_{stage}"
        original = getattr(launch, name)

        @functools.wraps(original)
        def failing(config: Any, upstream: Any, ctx: Any) -> Any:
            marker = Path(ctx.paths.root) / f".injected-failure-{stage}"
            if not marker.exists():
                marker.write_text("failed once")
                raise InjectedFailure(f"injected failure in stage {stage} ({FAULTS_ENV}); re-run to continue")
            return original(config, upstream, ctx)

        setattr(launch, name, failing)

    return patch


def _fail_after_first_checkpoint(stage: str) -> Callable[[Any], None]:
    """The stage raises right after its first checkpoint is saved and mirrored, unless the run resumed: the
    checkpoint callback has run (marker written, mirror uploaded) when it raises."""

    def patch(checkpoints: Any) -> None:
        cls = checkpoints.MarkCompleteCallback
        begin, save = cls.on_train_begin, cls.on_save

        def on_train_begin(self: Any, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            self._injected_resumed = state.global_step > 0  # a resumed run's state is loaded before this event
            return begin(self, args, state, control, **kwargs)

        def on_save(self: Any, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            result = save(self, args, state, control, **kwargs)
            ours = Path(args.output_dir).name.startswith(f"{stage}-")  # run folders are `<stage>-<hash>`
            if ours and not getattr(self, "_injected_resumed", True):
                raise InjectedFailure(
                    f"injected failure in stage {stage} after checkpoint-{state.global_step} ({FAULTS_ENV}); "
                    "re-run to resume from it"
                )
            return result

        cls.on_train_begin, cls.on_save = on_train_begin, on_save

    return patch


def install(point: str) -> None:
    """Install the hook for one named point."""
    if point == "none":
        return
    if point == "data.load-transaction":
        when_imported("storage.warehouse", lambda _: _inside_transaction("datasets", point))
    elif point == "data.between-sets":
        # After the RL set's load committed, before the cold-start set is read.
        when_imported(
            "knowrl.data.stage",
            lambda m: _after(m, "check_quality", point, lambda kind, *a, **k: kind == "rl"),
        )
    elif point == "knowledge.segment-build":
        # The segment's files are written in artifacts/.tmp, not yet committed.
        when_imported("knowrl.knowledge.stage", lambda m: _after(m, "build_segment", point))
    elif point == "knowledge.segment-registration":
        # The segment artifact is committed; the warehouse does not know it yet.
        when_imported("storage.knowledge", lambda m: _before(m.KnowledgeTables, "add_segment", point))
    elif point == "knowledge.store-write":
        # The store artifact is built in artifacts/.tmp, not yet committed; the coverage is recorded.
        when_imported("knowrl.knowledge.stage", lambda m: _after(m, "_write_store", point))
    elif point.startswith(("sft.after-checkpoint-", "grpo.after-checkpoint-")):
        stage, step = point.split(".")[0], int(point.rsplit("-", 1)[1])

        def reached(self: Any, args: Any, state: Any, *rest: Any, **kwargs: Any) -> bool:
            # A run directory is named after its run key, `<stage>-<hash>`.
            return Path(args.output_dir).name.startswith(f"{stage}-") and state.global_step == step

        # After the Trainer saved checkpoint-N of the stage and we marked it complete: the newest resumable state.
        when_imported("knowrl.train.checkpoints", lambda m: _after(m.MarkCompleteCallback, "on_save", point, reached))
    elif point == "remote.before-marker":
        # Every file of a remote tree (a checkpoint, an artifact) is uploaded; its commit marker is written next.
        when_imported("storage.remote", lambda m: _before(m.RemoteTree, "write_bytes", point))
    elif point == "mirror.before-upload":
        # A training stage's checkpoint is saved and marked complete locally; its upload to the mirror starts next.
        when_imported("storage.checkpoints", lambda m: _before(m.CheckpointMirror, "upload", point))
    elif point in ("sft@start", "grpo@start"):
        when_imported("knowrl.train.launch", _fail_at_start(point.split("@")[0]))
    elif point in ("sft@checkpoint", "grpo@checkpoint"):
        when_imported("knowrl.train.checkpoints", _fail_after_first_checkpoint(point.split("@")[0]))
    else:
        raise SystemExit(f"unknown fault point {point!r}")


def install_from_env() -> None:
    """The hooks `$KNOWRL_FAULTS` names (tests/faults/startup/sitecustomize.py calls this in every process)."""
    for point in filter(None, (os.environ.get(FAULTS_ENV) or "").split(",")):
        install(point.strip())


def run_library(stages: list[str], recipe_path: str, overrides: list[str]) -> None:
    """The stages in order, straight through the library (no Prefect). Each finished stage's reference is kept in
    KNOWRL_HOME/fault-refs.json and reused by the next run of this driver, as Prefect's cache would be."""
    from knowrl.pipeline.refs import dump_refs
    from knowrl.pipeline.runtime import StageContext
    from knowrl.registry import REGISTRY, load_recipe

    recipe = load_recipe(recipe_path, overrides)
    ctx = StageContext.from_env()
    refs_path = ctx.paths.root / REFS_FILE
    stored = json.loads(refs_path.read_text()) if refs_path.exists() else {}
    refs: dict[str, Any] = {name: REGISTRY.result(name, ref) for name, ref in stored.items()}
    for stage in stages:
        if stage in refs:
            continue
        spec = REGISTRY[stage]
        upstream = {name: refs[name] for name in spec.upstream_stages}
        refs[stage] = spec.call("run", recipe.stage_config(stage), upstream, ctx)
        refs_path.write_text(json.dumps(dump_refs(refs)))
    print(json.dumps(dump_refs(refs)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.inject")
    parser.add_argument("point")
    parser.add_argument("route", choices=["cli", "lib"])
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    install(args.point)
    if args.route == "cli":
        from knowrl_cli.main import app

        sys.argv = ["knowrl", *args.rest]
        app()
        return
    lib = argparse.ArgumentParser(prog="lib")
    lib.add_argument("stages")
    lib.add_argument("--recipe", default=str(Path(__file__).resolve().parents[2] / "recipes" / "demo.yaml"))
    lib.add_argument("--set", dest="overrides", action="append", default=[])
    opts = lib.parse_args(args.rest)
    run_library(opts.stages.split(","), opts.recipe, opts.overrides)


if __name__ == "__main__":
    main()
