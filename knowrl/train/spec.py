"""The training stages: cold-start SFT, then GRPO with the recipe's rewards (TRL, LoRA)."""

from knowrl.pipeline.spec import StageSpec
from knowrl.train.config import GRPOStageConfig, SFTStageConfig
from knowrl.train.result import GRPORef, SFTRef

# What the preflight checks a recipe's options against: a new version of one of them checks the recipe again.
PREFLIGHT_DEPENDS = ("trl", "transformers", "peft")

SFT = StageSpec(
    name="sft",
    config=SFTStageConfig,
    result=SFTRef,
    upstream=("data:coldstart",),
    packages=("knowrl.train", "knowrl.models", "knowrl.method"),
    run="knowrl.train.launch:train_sft",
    report="knowrl.train.report:sft_report",
    preflight="knowrl.train.preflight:check_sft",
    preflight_depends=PREFLIGHT_DEPENDS,
    gpu=True,
    description="cold-start supervised fine-tuning",
)

GRPO = StageSpec(
    name="grpo",
    config=GRPOStageConfig,
    result=GRPORef,
    upstream=("data:rl", "knowledge", "sft", "curate"),
    packages=("knowrl.train", "knowrl.models", "knowrl.method", "knowrl.rewards", "knowrl.judges"),
    run="knowrl.train.launch:train_grpo",
    report="knowrl.train.report:grpo_report",
    preflight="knowrl.train.preflight:check_grpo",
    preflight_depends=PREFLIGHT_DEPENDS,
    gpu=True,
    description="GRPO with the format, correctness and factuality rewards",
)
