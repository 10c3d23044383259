"""The evaluate stage's recipe section: the benchmarks, generation settings and the grading judge."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from knowrl.config.backends import JudgeConfig
from knowrl.config.types import RecipePath, StrictModel


class BenchmarkSpec(StrictModel):
    name: Literal["truthfulqa", "simpleqa", "chinese_simpleqa", "gpqa", "aime"] = Field(
        description="the benchmark's kind: how its file is read, prompted and graded"
    )
    label: str | None = Field(None, description="name in reports (default: name); two sets of one kind need labels")
    source: RecipePath = Field(description="Hub dataset id or local file")
    file: str | None = None
    revision: str | None = None
    split: str = "test"
    limit: int | None = Field(None, ge=1)
    prompt_suffix: str = Field("", description='appended to every question, e.g. "Let\'s think step by step"')
    judge_prompt_file: str | None = Field(None, description="grading template for this benchmark (QA kinds)")

    @property
    def key(self) -> str:
        return self.label or self.name


class EvaluateConfig(StrictModel):
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
