"""Fault injection driver: run the `knowrl` CLI, or the stage library without Prefect, in this process with a hook
that stops at one risky point, so that a test can `kill -9` the process exactly there.

    python -m tests.faults.inject POINT cli run --recipe recipes/demo.yaml --stages data,knowledge
    python -m tests.faults.inject POINT lib data,knowledge --set knowledge.passage_max_tokens=32

At the point the process writes `$KNOWRL_FAULT_MARKER` (JSON: pid, point) and then, as `$KNOWRL_FAULT_ACTION` says,
sends itself SIGKILL (`kill`) or sleeps until the test kills it (`pause`, the default: the test can look at the
process tree first). POINT `none` runs without a hook (a clean run by the same route). Nothing here changes what the
code under test does before the point: the hooks wrap the real functions and call them.
"""

from __future__ import annotations

import argparse
import functools
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
REFS_FILE = "fault-refs.json"


def hit(point: str) -> None:
    """The process reached `point`: say so, then die here (kill) or wait to be killed (pause)."""
    marker = os.environ.get(MARKER_ENV)
    if marker:
        tmp = Path(f"{marker}.tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "point": point}))
        tmp.rename(marker)  # the test never reads half a marker
    if os.environ.get(ACTION_ENV, "pause") == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
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


def install(point: str) -> None:
    """Install the hook for one named point."""
    if point == "none":
        return
    if point == "data.load-transaction":
        _inside_transaction("datasets", point)
    elif point == "data.between-sets":
        import knowrl.data.stage as data_stage

        # After the RL set's load committed, before the cold-start set is read.
        _after(data_stage, "check_quality", point, lambda kind, *a, **k: kind == "rl")
    elif point == "knowledge.segment-build":
        import knowrl.knowledge.stage as knowledge_stage

        # The segment's files are written in artifacts/.tmp, not yet committed.
        _after(knowledge_stage, "build_segment", point)
    elif point == "knowledge.segment-registration":
        from storage.knowledge import KnowledgeTables

        # The segment artifact is committed; the warehouse does not know it yet.
        _before(KnowledgeTables, "add_segment", point)
    elif point == "knowledge.store-write":
        import knowrl.knowledge.stage as knowledge_stage

        # The store artifact is built in artifacts/.tmp, not yet committed; the coverage is recorded.
        _after(knowledge_stage, "_write_store", point)
    elif point.startswith(("sft.after-checkpoint-", "grpo.after-checkpoint-")):
        from knowrl.train.checkpoints import MarkCompleteCallback

        stage, step = point.split(".")[0], int(point.rsplit("-", 1)[1])

        def reached(self: Any, args: Any, state: Any, *rest: Any, **kwargs: Any) -> bool:
            # A run directory is named after its run key, `<stage>-<hash>`.
            return Path(args.output_dir).name.startswith(f"{stage}-") and state.global_step == step

        # After the Trainer saved checkpoint-N of the stage and we marked it complete: the newest resumable state.
        _after(MarkCompleteCallback, "on_save", point, reached)
    else:
        raise SystemExit(f"unknown fault point {point!r}")


def run_library(stages: list[str], recipe_path: str, overrides: list[str]) -> None:
    """The stages in order, straight through the library (no Prefect). Each finished stage's reference is kept in
    KNOWRL_HOME/fault-refs.json and reused by the next run of this driver, as Prefect's cache would be."""
    from knowrl.config.recipe import load_recipe
    from knowrl.pipeline.runtime import StageContext
    from knowrl.pipeline.stages import code_version

    recipe = load_recipe(recipe_path, overrides)
    ctx = StageContext.from_env()
    refs_path = ctx.paths.root / REFS_FILE
    from knowrl.pipeline.refs import dump_refs, refs_from_dicts

    refs: dict[str, Any] = refs_from_dicts(json.loads(refs_path.read_text())) if refs_path.exists() else {}
    for stage in stages:
        if stage in refs:
            continue
        if stage == "data":
            from knowrl.data.stage import run_data_stage

            refs[stage] = run_data_stage(recipe.data, ctx)
        elif stage == "knowledge":
            from knowrl.knowledge.stage import run_knowledge_stage

            refs[stage] = run_knowledge_stage(recipe.knowledge, refs["data"], ctx)
        elif stage == "sft":
            from knowrl.train.sft import run_sft_stage

            refs[stage] = run_sft_stage(recipe.sft, refs["data"], ctx, code_version("sft"))
        elif stage == "grpo":
            from knowrl.train.grpo import run_grpo_stage

            refs[stage] = run_grpo_stage(recipe.grpo, refs, ctx, code_version("grpo"))
        else:
            raise SystemExit(f"the library route runs data, knowledge, sft and grpo, not {stage!r}")
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
