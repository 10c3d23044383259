"""The TRL config a training stage runs with: the recipe's TRL options by TRL's names, the options the stage controls
(`knowrl.train.config.STAGE_CONTROLLED`), and the hardware's limits. Built the same way for the preflight check and
for the stage itself, so what is checked before a run is what trains."""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from pathlib import Path
from typing import Any

from knowrl import resources
from knowrl.errors import ConfigError
from knowrl.train.config import LoraSettings, TrainerStageConfig


class TrainerOptionError(ConfigError):
    """A recipe's TRL or PEFT option is not one the installed version has, or TRL rejected its value."""


def is_main_rank() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def launched_ranks() -> int:
    """Processes of this training under `accelerate launch` (1 when the stage runs in its task's process)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


# Optimizers of bitsandbytes (8-bit, paged) need CUDA: on a CPU the stage trains with torch's AdamW instead.
_CUDA_ONLY_OPTIMIZERS = re.compile(r"8bit|bnb|paged|lion_8bit|ademamix_8bit", re.I)


def hardware_adjustments(cfg: TrainerStageConfig) -> dict[str, Any]:
    """What the stage changes of the recipe's TRL options on this machine, and to what: on a machine without CUDA,
    full precision and a CPU optimizer. Recorded in the stage's metrics; empty on a GPU."""
    if cuda_available():
        return {}
    changes: dict[str, Any] = {"bf16": False, "fp16": False}
    if _CUDA_ONLY_OPTIMIZERS.search(str(cfg.option("optim", ""))):
        changes["optim"] = "adamw_torch"
    return {name: value for name, value in changes.items() if cfg.option(name, value) != value}


def trl_arguments(cfg: TrainerStageConfig, output_dir: Path, stage_args: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of the stage's TRL config: the recipe's options, then what the stage sets itself, then
    what this machine cannot run (`hardware_adjustments`)."""
    on_cpu = not cuda_available()
    args: dict[str, Any] = {
        **cfg.trl_options,
        **stage_args,
        "output_dir": str(output_dir),
        "report_to": [],
        "disable_tqdm": True,
        "save_strategy": "steps",
        "save_only_model": False,
        "use_cpu": on_cpu,
    }
    if on_cpu:  # a CPU trains in full precision (TRL defaults to bf16, which a CPU run refuses)
        args |= {"bf16": False, "fp16": False, **hardware_adjustments(cfg)}
    # ZeRO shards across the ranks `accelerate launch` starts (knowrl/train/launch.py); one process trains without.
    if cfg.deepspeed and launched_ranks() > 1:
        args["deepspeed"] = str(resources.deepspeed_config(cfg.deepspeed))
    return args


def _unknown_names(config_class: type, names: list[str], section: str) -> None:
    known = sorted(f.name for f in dataclasses.fields(config_class))
    unknown = [name for name in names if name not in known]
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, known, n=3)
            hints.append(f"{section}.{name}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
        raise TrainerOptionError(
            f"{'; '.join(hints)}: not an option of {config_class.__module__.split('.')[0]}'s "
            f"{config_class.__name__} (installed version)"
        )


# TRL checks some values only when a training step uses them (an unknown `loss_type` fails at the first step);
# where a field's help states its supported values, they are checked before any stage computes.
_CHOICES = re.compile(r"(?:Supported (?:values|options) are|Must be one of)[:\s]*(.+?)(?:\.\s|\.$)", re.S)


def _supported_values(help_text: str) -> set[str] | None:
    found = _CHOICES.search(help_text)
    values = set(re.findall(r"'([A-Za-z0-9_-]+)'", found.group(1))) if found else set()
    return values if len(values) >= 2 else None  # a sentence we cannot read fully is not used


def _check_values(config_class: type, options: dict[str, Any], section: str) -> None:
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    for name, value in options.items():
        supported = _supported_values(str(fields[name].metadata.get("help", ""))) if isinstance(value, str) else None
        if supported and value not in supported:
            raise TrainerOptionError(
                f"{section}.{name}={value!r} is not a value TRL supports ({', '.join(sorted(supported))}, "
                f"per {config_class.__name__}'s own help)"
            )


def build_trl_config(config_class: type, cfg: TrainerStageConfig, output_dir: Path, stage_args: dict[str, Any]) -> Any:
    """TRL's config for the stage; an unknown name is named with a suggestion, a rejected value with TRL's reason."""
    section = "sft" if "SFT" in config_class.__name__ else "grpo"
    _unknown_names(config_class, list(cfg.trl_options), section)
    _check_values(config_class, cfg.trl_options, section)
    try:
        return config_class(**trl_arguments(cfg, output_dir, stage_args))
    except (TypeError, ValueError) as exc:
        raise TrainerOptionError(
            f"TRL's {config_class.__name__} rejected the recipe's {section} options: {exc}"
        ) from exc


def lora_config(settings: LoraSettings) -> Any:
    """PEFT's LoraConfig from the recipe's `lora:` section (PEFT's names; unknown ones are named)."""
    from peft import LoraConfig

    values = settings.model_dump(exclude_none=True)
    if values.get("target_modules") == ["all-linear"]:  # PEFT's keyword for every linear layer is a string
        values["target_modules"] = "all-linear"
    _unknown_names(LoraConfig, list(values), "lora")
    try:
        return LoraConfig(**values, task_type="CAUSAL_LM")
    except (TypeError, ValueError) as exc:
        raise TrainerOptionError(f"PEFT's LoraConfig rejected the recipe's lora options: {exc}") from exc
