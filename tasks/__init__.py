"""The Prefect layer of the stages: one task per stage, made from its spec (tasks/stage_task.py), and the dispatch
of a stage to its own deployment (tasks/dispatch.py). The work is in knowrl/."""

from knowrl.registry import REGISTRY
from tasks.stage_task import stage_task

STAGE_TASKS = {spec.name: stage_task(spec) for spec in REGISTRY}

__all__ = ["STAGE_TASKS"]
