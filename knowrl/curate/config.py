"""The curate stage's recipe section: on or off, how the SFT model is sampled and graded, and the policy that picks
the GRPO set from the buckets."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, model_validator

from knowrl.config.backends import JudgeConfig
from knowrl.config.types import StrictModel
from knowrl.method.prompts import PromptStyle

# Each question falls in one bucket by its k graded samples (knowrl/curate/buckets.py, `bucket_of`).
Bucket = Literal["always_correct", "sometimes", "never_correct", "always_refused"]
BUCKETS: tuple[str, ...] = get_args(Bucket)


class CuratePolicy(StrictModel):
    """Which questions GRPO trains on, by bucket: every bucket not in `drop`, each bucket in `max_share` subsampled
    (with `seed`) to at most that fraction of the kept set; `keep_all: true` keeps every question (the buckets are
    still measured and reported)."""

    keep_all: bool = Field(False, description="train on every question; only measure and report the buckets")
    drop: list[Bucket] = Field(
        default_factory=lambda: ["always_correct"],
        description="buckets left out entirely (default: questions the SFT model already answers right k/k)",
    )
    max_share: dict[Bucket, float] = Field(
        default_factory=dict, description="bucket -> the largest fraction of the kept set it may make up, in (0, 1]"
    )
    seed: int = Field(0, description="which questions of a capped bucket are kept")

    @model_validator(mode="after")
    def _consistent(self) -> CuratePolicy:
        for bucket, share in self.max_share.items():
            if not 0 < share <= 1:
                raise ValueError(f"curate.policy.max_share.{bucket}={share} is not a fraction in (0, 1]; e.g. 0.2")
        both = sorted(set(self.drop) & set(self.max_share))
        if both:
            raise ValueError(f"curate.policy: {both} are both dropped and capped; list each in `drop` or `max_share`")
        if set(self.drop) >= set(BUCKETS):
            raise ValueError(f"curate.policy.drop lists every bucket {list(BUCKETS)}: GRPO would get no question")
        if self.keep_all and (self.max_share or ("drop" in self.model_fields_set and self.drop)):
            raise ValueError("curate.policy.keep_all keeps every question: remove `drop` and `max_share`, or keep_all")
        return self

    def describe(self) -> str:
        """The policy in one line, for reports."""
        if self.keep_all:
            return "keep all"
        parts = [f"drop {', '.join(self.drop)}" if self.drop else "drop nothing"]
        parts += [f"{bucket} at most {share:.0%}" for bucket, share in self.max_share.items()]
        return "; ".join(parts)


class CurateConfig(StrictModel):
    """Off by default: GRPO then trains on every RL row and this stage loads nothing (the paper trains on all rows).
    On, it samples `k` answers per RL question from the SFT model, grades them with `judge`, and keeps the questions
    the policy picks."""

    enabled: bool = False
    k: int = Field(4, ge=1, description="sampled answers per question")
    temperature: float = Field(0.7, ge=0, description="sampling temperature (GRPO's own is a good choice)")
    top_p: float = Field(1.0, gt=0, le=1)
    max_new_tokens: int = Field(256, ge=1, description="length of each sampled answer (GRPO's completion length)")
    batch_size: int = Field(16, ge=1, description="prompts per generation batch")
    use_vllm: bool = False
    seed: int = Field(0, description="sampling seed (transformers generation): a rerun samples the same answers")
    prompt_style: PromptStyle = Field("system", description="how the SFT model is asked: set it to grpo.prompt_style")
    judge: JudgeConfig = Field(
        default_factory=JudgeConfig, description="grades the samples (default prompt: the reward's grader)"
    )
    policy: CuratePolicy = Field(default_factory=CuratePolicy)

    @model_validator(mode="after")
    def _sampling(self) -> CurateConfig:
        if self.k > 1 and self.temperature == 0:
            raise ValueError(
                f"curate: k={self.k} with temperature 0 repeats one greedy answer; set curate.temperature (e.g. 0.7, "
                "GRPO's sampling temperature) or k: 1"
            )
        return self
