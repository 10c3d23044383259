"""Map a stage config onto TRL/transformers training arguments, the same way for SFT and GRPO."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from peft import LoraConfig

from knowrl import resources
from knowrl.config.stages import LoraSettings, _TrainerSettings
from knowrl.errors import ConfigError


def is_main_rank() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def common_args(cfg: _TrainerSettings, output_dir: Path) -> dict[str, Any]:
    use_cpu = (not cuda_available()) if cfg.use_cpu == "auto" else bool(cfg.use_cpu)
    args: dict[str, Any] = {
        "output_dir": str(output_dir),
        "learning_rate": cfg.learning_rate,
        "lr_scheduler_type": cfg.lr_scheduler,
        # transformers 5: a float warmup_steps in [0, 1) is a ratio of the total steps.
        "warmup_steps": cfg.warmup_ratio,
        "max_steps": cfg.max_steps,
        "per_device_train_batch_size": cfg.per_device_batch,
        "gradient_accumulation_steps": cfg.grad_accum,
        # TRL 1.x defaults bf16=True, which a CPU cannot run: the recipe decides, and never on CPU.
        "bf16": cfg.bf16 and not use_cpu,
        "use_cpu": use_cpu,
        "gradient_checkpointing": cfg.gradient_checkpointing,
        "save_strategy": "steps",
        "save_steps": cfg.save_steps,
        "logging_steps": cfg.logging_steps,
        "optim": cfg.optim,
        "seed": cfg.seed,
        "report_to": [],
        "disable_tqdm": True,
        "save_only_model": False,
    }
    if cfg.deepspeed:
        args["deepspeed"] = str(resources.deepspeed_config(cfg.deepspeed))
    return args


class TrainerOptionError(ConfigError):
    """TRL rejected an option value from the recipe."""


def trl_config(config_class: type, args: dict[str, Any]) -> Any:
    """Build TRL's config; a value TRL rejects is reported with the recipe's view of it."""
    try:
        return config_class(**args)
    except (TypeError, ValueError) as exc:
        raise TrainerOptionError(f"TRL's {config_class.__name__} rejected the recipe's options: {exc}") from exc


def with_trl_args(cfg: _TrainerSettings, args: dict[str, Any]) -> dict[str, Any]:
    """The recipe's further TRL options on top (their names were checked when the recipe loaded)."""
    return {**args, **cfg.trl_args}


def lora_config(settings: LoraSettings) -> LoraConfig:
    return LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.target_modules if settings.target_modules != ["all-linear"] else "all-linear",
        modules_to_save=settings.modules_to_save or None,
        task_type="CAUSAL_LM",
    )
