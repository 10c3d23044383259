"""The training stages' recipe sections (`sft:` and `grpo:`): TRL's own option names, as open-r1 takes them.

A section holds our fields (the base model, the data limit, LoRA, the rewards and their backends) and, beside them,
any option of TRL's `SFTConfig` / `GRPOConfig` (and transformers' `TrainingArguments`) under TRL's own name:
`learning_rate`, `per_device_train_batch_size`, `loss_type`, `temperature`, ... There is no second vocabulary to
map back. `lora:` takes PEFT's `LoraConfig` names (`r`, `lora_alpha`, `lora_dropout`, `target_modules`, ...).

Names are checked against the installed TRL's config dataclass (and PEFT's) before any stage of a run computes
(`knowrl.train.preflight`: a typo fails in seconds, with "did you mean"); the recipe itself loads without importing
TRL, so a cached run never pays for it. Unset TRL options keep TRL's default: a recipe that must mean the same on
every TRL version sets them (recipes/knowrl-7b*.yaml do).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from knowrl.config.backends import ExtractorConfig, JudgeConfig, VerifierConfig
from knowrl.config.types import RecipePath, StrictModel
from knowrl.method.prompts import PromptStyle
from knowrl.train.health import HealthConfig

# Options the stages set themselves: a recipe cannot override them. The value says why (it is the error's text).
STAGE_CONTROLLED: dict[str, str] = {
    "output_dir": "each run trains in its own folder under KNOWRL_HOME/runs (the same config resumes there)",
    "report_to": "training logs go to the warehouse (train_logs) and the stage's Prefect artifacts",
    "disable_tqdm": "progress goes to the run's log and the live display",
    "save_strategy": "checkpoints every save_steps are how a failed run resumes",
    "save_only_model": "a resumed run needs the optimizer and scheduler state of its checkpoint",
    "use_cpu": "chosen by the hardware: without CUDA the stage trains on the CPU (and without bf16/fp16)",
    "log_completions": "completions are logged by knowrl's reward monitors, not printed",
    "reward_weights": "set by the weights in grpo.rewards",
    "assistant_only_loss": "the sft stage builds the loss mask itself (sft.chat_template); see the README",
    "completion_only_loss": "the sft stage builds the loss mask itself (sft.chat_template); see the README",
}

# Our former names (before TRL's own were used) -> the name to use now.
RENAMED: dict[str, str] = {
    "lr_scheduler": "lr_scheduler_type",
    "per_device_batch": "per_device_train_batch_size",
    "grad_accum": "gradient_accumulation_steps",
    "num_epochs": "num_train_epochs",
    "warmup_ratio": "warmup_steps (transformers 5 reads a value below 1 as a ratio of the total steps)",
    "trl_args": "",  # its options go directly under the section
}
LORA_RENAMED: dict[str, str] = {"alpha": "lora_alpha", "dropout": "lora_dropout"}


def _refuse_renamed(data: Any, renamed: dict[str, str], section: str) -> Any:
    if isinstance(data, dict):
        old = [key for key in data if key in renamed]
        if old:
            said = [
                f"{section}.{key} is now {section}.{renamed[key]}"
                if renamed[key]
                else f"{section}.{key} is gone: put each of its options directly under {section}:"
                for key in old
            ]
            raise ValueError("; ".join(said) + " (knowrl takes TRL's and PEFT's own option names)")
    return data


class LoraSettings(BaseModel):
    """PEFT's `LoraConfig`, by its own names; any other LoraConfig option (use_rslora, bias, ...) is passed on."""

    model_config = ConfigDict(extra="allow")

    r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = ["q_proj", "k_proj", "v_proj", "o_proj"]
    # Fully trained next to the adapter; the demo's randomly initialised model needs its norms trained
    # to sharpen its output distribution (a pretrained base does not).
    modules_to_save: list[str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_old_names(cls, data: Any) -> Any:
        return _refuse_renamed(data, LORA_RENAMED, "lora")


class TrainerStageConfig(BaseModel):
    """Our fields of a training stage; every other key is a TRL option by TRL's name (`trl_options`)."""

    model_config = ConfigDict(extra="allow")

    limit_rows: int | None = Field(None, ge=1, description="train on the first N rows only (smoke runs)")
    lora: LoraSettings = LoraSettings()
    deepspeed: Literal["zero2", "zero3"] | None = Field(
        None, description="a DeepSpeed ZeRO config shipped in recipes/deepspeed/ (multi-GPU runs)"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_old_or_controlled_names(cls, data: Any) -> Any:
        section = "sft" if cls is SFTStageConfig else "grpo"
        _refuse_renamed(data, RENAMED, section)
        if isinstance(data, dict):
            controlled = [key for key in data if key in STAGE_CONTROLLED]
            if controlled:
                raise ValueError(
                    "; ".join(f"{section}.{key} is set by knowrl: {STAGE_CONTROLLED[key]}" for key in controlled)
                )
        return data

    @property
    def trl_options(self) -> dict[str, Any]:
        """The recipe's TRL options, by TRL's names (what is not one of our fields)."""
        return dict(self.model_extra or {})

    def option(self, name: str, default: Any = None) -> Any:
        """A TRL option as the recipe sets it, else `default` (TRL's own default is not known before TRL loads)."""
        return self.trl_options.get(name, default)


class SFTStageConfig(TrainerStageConfig):
    base_model: RecipePath = Field(description="Hub model id, local path, or builtin:tiny-qwen2")
    revision: str | None = None
    chat_template: Literal["model", "chatml"] = Field(
        "model",
        description="how conversations are rendered for training: the base model's own chat template, or ChatML "
        "(LLaMA-Factory's `qwen` template, with which the authors trained their cold start)",
    )
    system_prompt: Literal["method", "none", "default"] = Field(
        "method",
        description="the system turn of a training conversation: the method's instruction, none, or the template's "
        "own default (LLaMA-Factory's qwen template adds Qwen's default system prompt when a row has none)",
    )
    sample_prompts: int = Field(16, ge=0, description="prompts sampled before/after to measure format share")
    sample_max_new_tokens: int = Field(96, ge=1)


class RewardSpec(StrictModel):
    name: str = Field(description="a reward of knowrl/rewards/registry.py: format, combined, truthfulness, ...")
    weight: float = 1.0
    contradiction_threshold: float | None = Field(
        None,
        ge=0,
        le=1,
        description="binary_rar only: a claim is contradicted when a retrieved passage's P(contradiction) reaches "
        "this (default 0.5)",
    )

    @model_validator(mode="after")
    def _options_of_its_reward(self) -> RewardSpec:
        if self.contradiction_threshold is not None and self.name != "binary_rar":
            raise ValueError(
                f"contradiction_threshold is an option of reward binary_rar, not of {self.name!r}; remove it there"
            )
        return self


# TRL's GRPOConfig.multi_objective_aggregation (TRL >= 1.x): how several rewards become one advantage. TRL checks the
# value only when training starts; the recipe is checked here.
MULTI_OBJECTIVE_AGGREGATIONS = ("sum_then_normalize", "normalize_then_sum")


class GRPOStageConfig(TrainerStageConfig):
    prompt_style: PromptStyle = Field(
        "system",
        description="how a question becomes the prompt (knowrl/method/prompts.py): system (the method's instruction "
        "as a system turn), user_prefill (the authors' June 2025 and v1.0.0 main.py), system_continue (their "
        "November 2025 main.py), user (the question alone)",
    )
    reward_rules: Literal["2025-06", "2025-10"] = Field(
        "2025-10",
        description="the authors' reward details by version: 2025-06 (the published model's: keyword and refusal "
        "pre-filters, a refusal scored like a wrong answer, factuality min(supported/15, 1)) or 2025-10 (v1.0.0 "
        "onwards: every answer judged, refusal +1, factuality supported/facts x length penalty)",
    )
    max_prompt_tokens: int = Field(
        256, ge=8, description="prompts longer than this (chat template applied) are left out, and counted"
    )
    rewards: list[RewardSpec] = [RewardSpec(name="format"), RewardSpec(name="combined")]
    judge: JudgeConfig = JudgeConfig()
    extractor: ExtractorConfig = ExtractorConfig()
    verifier: VerifierConfig = VerifierConfig()
    judge_failure_window: int = Field(
        20, ge=1, description="the judge's/extractor's failure rate is measured over its last this many calls"
    )
    judge_max_failure_rate: float = Field(
        0.5,
        ge=0,
        le=1,
        description="abort GRPO when the judge's or extractor's failure share over the window exceeds this",
    )
    health: HealthConfig = Field(
        HealthConfig(),
        description="limits on the reward-hacking monitors (knowrl/train/health.py); ours, not a TRL option",
    )

    @model_validator(mode="after")
    def _rewards_fit_their_options(self) -> GRPOStageConfig:
        aggregation = self.option("multi_objective_aggregation")
        if aggregation is not None and aggregation not in MULTI_OBJECTIVE_AGGREGATIONS:
            raise ValueError(
                f"multi_objective_aggregation={aggregation!r} is not one of TRL's: "
                f"{', '.join(MULTI_OBJECTIVE_AGGREGATIONS)} (normalize_then_sum: each reward per group first)"
            )
        grade_readers = sorted({r.name for r in self.rewards} & {"truthfulness", "calibration"})
        if grade_readers and self.reward_rules == "2025-06":
            raise ValueError(
                f"rewards {grade_readers} read the judge's grade of every answer, and reward_rules '2025-06' settles "
                "some answers without one (the June 2025 pre-filters); set reward_rules: '2025-10'"
            )
        return self

    @model_validator(mode="after")
    def _generation_batch_divisible(self) -> GRPOStageConfig:
        # Checked here (not only by TRL when the stage starts) when the recipe sets the numbers: a wrong batch must
        # not surface after hours of SFT.
        generations = self.option("num_generations")
        batch = self.option("generation_batch_size") or (
            self.option("per_device_train_batch_size") * self.option("gradient_accumulation_steps", 1)
            if self.option("per_device_train_batch_size")
            else None
        )
        if generations and batch and batch % generations:
            raise ValueError(
                f"generation batch {batch} (per_device_train_batch_size x gradient_accumulation_steps, or "
                f"generation_batch_size) must be divisible by num_generations={generations}"
            )
        return self
