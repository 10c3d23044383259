"""The evaluate stage's recipe section: the benchmarks, generation settings, prompt styles and the grading judge."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from knowrl.config.backends import ExtractorConfig, JudgeConfig, VerifierConfig
from knowrl.config.types import RecipePath, StrictModel
from knowrl.method.prompts import PromptStyle


class BenchmarkSpec(StrictModel):
    name: Literal["truthfulqa", "simpleqa", "simpleqa_verified", "chinese_simpleqa", "gpqa", "aime", "factscore"] = (
        Field(description="the benchmark's kind: how its file is read, prompted and graded")
    )
    label: str | None = Field(None, description="name in reports (default: name); two sets of one kind need labels")
    source: RecipePath = Field(description="Hub dataset id or local file")
    file: str | None = None
    revision: str | None = None
    split: str = Field("test", description="the Hub split (SimpleQA Verified's is `eval`, its default here)")
    config: str | None = Field(None, description="the Hub dataset's configuration (e.g. TruthfulQA's generation)")
    configs: list[str] | None = Field(
        None, description="several configurations read as one set (opencompass/AIME2025: AIME2025-I, AIME2025-II)"
    )
    limit: int | None = Field(None, ge=1, description="the first N items (of each configuration)")
    prompt_suffix: str = Field("", description='appended to every question, e.g. "Let\'s think step by step"')
    judge_prompt_file: str | None = Field(None, description="grading template for this benchmark (QA kinds)")
    max_new_tokens: int | None = Field(None, ge=1, description="this benchmark's output length (default: the stage's)")
    samples: int = Field(1, ge=1, description="generations per item; the metrics are their mean, with the spread")
    temperature: float = Field(0.0, ge=0, description="0: greedy (one sample); R1-family on GPQA/AIME: 0.6")
    top_p: float = Field(1.0, gt=0, le=1)

    @property
    def key(self) -> str:
        return self.label or self.name

    @property
    def config_names(self) -> list[str | None]:
        return list(self.configs) if self.configs else [self.config]

    @model_validator(mode="after")
    def _kind_defaults(self) -> BenchmarkSpec:
        if self.name == "simpleqa_verified" and "split" not in self.model_fields_set:
            self.split = "eval"  # google/simpleqa-verified has one split, `eval`
        return self

    @model_validator(mode="after")
    def _sampling_is_consistent(self) -> BenchmarkSpec:
        if self.config and self.configs:
            raise ValueError(f"benchmark {self.key}: give `config` or `configs`, not both")
        if self.samples > 1 and self.temperature == 0:
            raise ValueError(
                f"benchmark {self.key}: samples={self.samples} with temperature 0 repeats one greedy answer; set "
                "temperature (0.6 and top_p 0.95 for R1-family models) or samples: 1"
            )
        return self


class EvaluateConfig(StrictModel):
    benchmarks: list[BenchmarkSpec]
    max_new_tokens: int = Field(1024, ge=1)
    batch_size: int = Field(8, ge=1)
    use_vllm: bool = False
    judge: JudgeConfig = JudgeConfig()
    # The `factscore` kind checks each response's facts against the knowledge store scoped to the entity, with the
    # reward's machinery under the evaluation's own settings: these extract and verify (the reward's are grpo's).
    extractor: ExtractorConfig = ExtractorConfig()
    verifier: VerifierConfig = VerifierConfig()
    # How each model is prompted (knowrl/method/prompts.py): the trained models with the method's prompt by default,
    # the base model as its card or any user would ask it, without the method's instruction (which pushes a model
    # that was never trained on it to refuse, and flatters a base -> trained comparison).
    prompt_style: PromptStyle = "system"
    base_prompt_style: PromptStyle = "user"
    bootstrap_samples: int = Field(1000, ge=10)
    seed: int = 0
    # base: the SFT stage's base model; last_published: the model of the newest publication (pushed, or the
    # newest dry-run bundle), falling back to base when nothing was published yet (scheduled retraining).
    baseline: Literal["base", "last_published"] = "base"

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "system_prompt" in data:
            raise ValueError(
                "evaluate.system_prompt is now evaluate.prompt_style (system, user, user_prefill, system_continue) "
                "for the trained models and evaluate.base_prompt_style for the base model"
            )
        return data

    @model_validator(mode="after")
    def _labels_unique(self) -> EvaluateConfig:
        keys = [b.key for b in self.benchmarks]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"benchmarks {duplicates} appear twice: give each a distinct `label`")
        return self
