"""Checks of the training stages that run before any stage of a run computes (`StageSpec.preflight`): the recipe's
TRL and PEFT options are built into TRL's and PEFT's own config objects exactly as the stage will build them, so an
unknown name (with "did you mean") or a value TRL rejects fails the run in seconds, not after hours of SFT. (The
kernel remembers a check that passed, by the section and the versions of TRL, transformers and PEFT: a run whose stages
are all cache hits does not import TRL again: knowrl/train/spec.py names what it depends on.)"""

from __future__ import annotations

import tempfile
from pathlib import Path

from knowrl.train.config import GRPOStageConfig, SFTStageConfig
from knowrl.train.settings import build_trl_config, lora_config


def check_sft(cfg: SFTStageConfig) -> None:
    from trl import SFTConfig

    from knowrl.train.sft import SFT_STAGE_ARGS

    with tempfile.TemporaryDirectory(prefix="knowrl-preflight-") as tmp:
        build_trl_config(SFTConfig, cfg, Path(tmp), SFT_STAGE_ARGS)
    lora_config(cfg.lora)


def check_grpo(cfg: GRPOStageConfig) -> None:
    from trl import GRPOConfig

    from knowrl.rewards.registry import check_reward_names
    from knowrl.train.grpo import grpo_stage_args

    check_reward_names(cfg.rewards)
    with tempfile.TemporaryDirectory(prefix="knowrl-preflight-") as tmp:
        build_trl_config(GRPOConfig, cfg, Path(tmp), grpo_stage_args(cfg))
    lora_config(cfg.lora)
