"""One pydantic config class per stage. Unknown keys are errors, so a typo in a recipe is named."""

from __future__ import annotations

import difflib
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from knowrl.config.backends import ExtractorConfig, JudgeConfig, VerifierConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataRules(_Strict):
    """Validation and filtering rules of the data stage; each can be tuned or switched off."""

    normalize_unicode: Literal["NFC", "NFKC", "none"] = "NFKC"
    collapse_whitespace: bool = True
    dedupe_questions: bool = True
    dedupe_key: Literal["normalized", "alphanumeric"] = "normalized"
    min_question_chars: int = Field(3, ge=0)
    max_question_chars: int = Field(2000, ge=1)
    max_answer_chars: int = Field(1000, ge=1)
    max_titles: int = Field(50, ge=1)
    min_response_chars: int = Field(10, ge=0)
    max_response_chars: int = Field(40000, ge=1)
    # lenient: <think>..</think> then <answer>..</answer>, text between them allowed (137 rows of the
    # published cold-start set have a sentence there); strict: only whitespace between; off: no check.
    coldstart_shape: Literal["lenient", "strict", "off"] = "lenient"


class DataConfig(_Strict):
    rl_source: str = Field(description="Hub dataset id or local JSON/JSONL/Parquet file or directory")
    rl_file: str | None = None
    coldstart_source: str | None = None
    coldstart_file: str | None = None
    revision: str | None = None
    split: str = "train"
    rules: DataRules = DataRules()
    heldout_fraction: float = Field(0.05, ge=0, lt=1)
    seed: int = 0
    stop_when_unchanged: bool = Field(
        False, description="scheduled retraining: stop after this stage when the RL data fingerprint is not new"
    )
    min_accepted_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="the stage fails when a set's accepted rows are fewer than this share of the rows read "
        "(a set with no accepted row always fails)",
    )


class KnowledgeConfig(_Strict):
    source: str = Field(description="KnowRL SQLite KB or Wikipedia dump: Hub dataset id or local path; 'demo'")
    source_format: Literal["auto", "knowrl_sqlite", "pages"] = "auto"
    hub_file: str | None = "knowledge_base.db"
    revision: str | None = None
    scope: Literal["needed", "all"] = "needed"
    passage_max_tokens: int = Field(256, ge=8)
    backend: Literal["bm25", "dense"] = "bm25"
    dense_model: str | None = Field(
        None, description="a sentence-transformers model, e.g. sentence-transformers/gtr-t5-large (the authors')"
    )
    drop_questions_without_titles: bool = Field(
        False,
        description="leave questions none of whose titles is in the store out of GRPO training (their facts can "
        "never be supported); the count is in the knowledge report either way",
    )


class LoraSettings(_Strict):
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] = ["q_proj", "k_proj", "v_proj", "o_proj"]
    # Fully trained next to the adapter; the demo's randomly initialised model needs its norms trained
    # to sharpen its output distribution (a pretrained base does not).
    modules_to_save: list[str] = []


# Options our code sets itself (paths, logging plumbing): a recipe cannot override them through trl_args.
RESERVED_TRL_OPTIONS = frozenset({"output_dir", "report_to", "disable_tqdm", "save_strategy", "reward_weights"})


class _TrainerSettings(_Strict):
    """Settings of a TRL trainer: the common ones by name, any other TRL option in `trl_args` by TRL's name."""

    # Our field name -> the TRL/transformers option it sets (for the error that points a trl_args key here).
    TRL_NAMES: ClassVar[dict[str, str]] = {
        "learning_rate": "learning_rate",
        "lr_scheduler": "lr_scheduler_type",
        "warmup_ratio": "warmup_steps",
        "max_steps": "max_steps",
        "per_device_batch": "per_device_train_batch_size",
        "grad_accum": "gradient_accumulation_steps",
        "bf16": "bf16",
        "use_cpu": "use_cpu",
        "gradient_checkpointing": "gradient_checkpointing",
        "save_steps": "save_steps",
        "logging_steps": "logging_steps",
        "deepspeed": "deepspeed",
        "optim": "optim",
        "seed": "seed",
    }
    TRL_STAGE: ClassVar[str] = ""

    learning_rate: float = Field(1e-4, gt=0)
    lr_scheduler: str = "cosine"
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    max_steps: int = Field(-1, ge=-1)
    per_device_batch: int = Field(1, ge=1)
    grad_accum: int = Field(1, ge=1)
    bf16: bool = False
    use_cpu: bool | Literal["auto"] = "auto"
    gradient_checkpointing: bool = False
    save_steps: int = Field(50, ge=1)
    logging_steps: int = Field(1, ge=1)
    deepspeed: Literal["zero2", "zero3"] | None = None
    optim: str = "adamw_torch"
    seed: int = 0
    limit_rows: int | None = Field(None, ge=1)
    lora: LoraSettings = LoraSettings()
    trl_args: dict[str, Any] = Field(
        default_factory=dict,
        description="any further option of TRL's SFTConfig/GRPOConfig, by TRL's name (e.g. epsilon_high, "
        "mask_truncated_completions, scale_rewards); values are checked by TRL when the stage starts",
    )

    @model_validator(mode="after")
    def _trl_args_are_trl_options(self) -> _TrainerSettings:
        from knowrl.config.trainer_options import CONFIG_CLASSES, trainer_option_names

        known = trainer_option_names(self.TRL_STAGE)
        by_trl_name = {trl: ours for ours, trl in self.TRL_NAMES.items()}
        config_class = CONFIG_CLASSES[self.TRL_STAGE][1]
        for key in self.trl_args:
            if key in by_trl_name:
                raise ValueError(f"trl_args.{key} is set by the field `{by_trl_name[key]}`: set that instead")
            if key in RESERVED_TRL_OPTIONS:
                raise ValueError(f"trl_args.{key} is set by knowrl itself and cannot be overridden")
            if key not in known:
                close = difflib.get_close_matches(key, sorted(known), n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise ValueError(f"trl_args.{key} is not an option of TRL's {config_class}{hint}")
        return self


class SFTStageConfig(_TrainerSettings):
    TRL_NAMES: ClassVar[dict[str, str]] = {
        **_TrainerSettings.TRL_NAMES,
        "num_epochs": "num_train_epochs",
        "max_length": "max_length",
    }
    TRL_STAGE: ClassVar[str] = "sft"

    base_model: str = Field(description="Hub model id, local path, or builtin:tiny-qwen2")
    revision: str | None = None
    num_epochs: float = Field(1.0, gt=0)
    max_length: int = Field(3072, ge=16)
    sample_prompts: int = Field(16, ge=0, description="prompts sampled before/after to measure format share")
    sample_max_new_tokens: int = Field(96, ge=1)


class RewardSpec(_Strict):
    name: str
    weight: float = 1.0


class GRPOStageConfig(_TrainerSettings):
    TRL_NAMES: ClassVar[dict[str, str]] = {
        **_TrainerSettings.TRL_NAMES,
        **{n: n for n in ("num_generations", "generation_batch_size", "beta", "loss_type", "temperature")},
        **{n: n for n in ("max_completion_length", "use_vllm")},
    }
    TRL_STAGE: ClassVar[str] = "grpo"

    learning_rate: float = Field(1e-5, gt=0)
    num_generations: int = Field(8, ge=2)
    generation_batch_size: int | None = None
    beta: float = Field(0.001, ge=0)
    # bnpo: per-token losses summed over the local batch / its completion tokens (the authors' TRL-0.16 loss)
    loss_type: Literal["grpo", "dapo", "bnpo", "dr_grpo", "cispo", "sapo"] = "bnpo"
    max_prompt_tokens: int = Field(
        256, ge=8, description="prompts longer than this (chat template applied) are left out, and counted"
    )
    max_completion_length: int = Field(1024, ge=4)
    temperature: float = Field(0.9, gt=0)
    use_vllm: bool = False
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

    @model_validator(mode="after")
    def _generation_batch_divisible(self) -> GRPOStageConfig:
        batch = self.generation_batch_size or self.per_device_batch * self.grad_accum
        if batch % self.num_generations:
            raise ValueError(
                f"generation batch {batch} (per_device_batch x grad_accum, or generation_batch_size) must be "
                f"divisible by num_generations={self.num_generations}"
            )
        return self


class BenchmarkSpec(_Strict):
    name: Literal["truthfulqa", "simpleqa", "chinese_simpleqa", "gpqa", "aime"] = Field(
        description="the benchmark's kind: how its file is read, prompted and graded"
    )
    label: str | None = Field(None, description="name in reports (default: name); two sets of one kind need labels")
    source: str = Field(description="Hub dataset id or local file")
    file: str | None = None
    revision: str | None = None
    split: str = "test"
    limit: int | None = Field(None, ge=1)
    prompt_suffix: str = Field("", description='appended to every question, e.g. "Let\'s think step by step"')
    judge_prompt_file: str | None = Field(None, description="grading template for this benchmark (QA kinds)")

    @property
    def key(self) -> str:
        return self.label or self.name


class EvaluateConfig(_Strict):
    benchmarks: list[BenchmarkSpec]
    max_new_tokens: int = Field(1024, ge=1)
    batch_size: int = Field(8, ge=1)
    use_vllm: bool = False
    judge: JudgeConfig = JudgeConfig()
    # method: every model gets the method's system prompt (the same prompt for all three); none: no system prompt
    system_prompt: Literal["method", "none"] = "method"
    bootstrap_samples: int = Field(1000, ge=10)
    seed: int = 0
    # base: the SFT stage's base model; last_published: the model of the newest publication (pushed, or the
    # newest dry-run bundle), falling back to base when nothing was published yet (scheduled retraining).
    baseline: Literal["base", "last_published"] = "base"

    @model_validator(mode="after")
    def _labels_unique(self) -> EvaluateConfig:
        keys = [b.key for b in self.benchmarks]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"benchmarks {duplicates} appear twice: give each a distinct `label`")
        return self


class PublishConfig(_Strict):
    repo_id: str = Field(description="Hub repo to push to, e.g. my-org/knowrl-model")
    private: bool = True
    push: Literal["merged", "adapter"] = "merged"
    dry_run: bool = False
    token_env: str = "HF_TOKEN"
    license: str = "mit"
    tag_prefix: str = "run-"
    # metric -> largest allowed worsening (trained minus base, in the metric's bad direction)
    gate: dict[str, float] = {}
    force: bool = False
