"""One thin Prefect task per stage: cache key, retries, artifacts; the work is in knowrl/."""

from tasks.data import data_stage
from tasks.evaluate import evaluate_stage
from tasks.grpo import grpo_stage
from tasks.knowledge import knowledge_stage
from tasks.publish import publish_stage
from tasks.sft import sft_stage

STAGE_TASKS = {
    "data": data_stage,
    "knowledge": knowledge_stage,
    "sft": sft_stage,
    "grpo": grpo_stage,
    "evaluate": evaluate_stage,
    "publish": publish_stage,
}

__all__ = ["STAGE_TASKS"]
