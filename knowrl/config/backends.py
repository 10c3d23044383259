"""Configs of the judge, fact extractor and fact verifier backends (shared by grpo and evaluate)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EndpointConfig(_Strict):
    """An OpenAI-compatible endpoint. The key is read from the named environment variable at call time.

    Retries (with exponential backoff that honours Retry-After) and timeouts are the `openai` client's own; the
    request and token quotas are shared by every client of the endpoint in a process (knowrl/transport/rate_limit.py).
    """

    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(16, ge=1)
    timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(4, ge=0)
    requests_per_minute: float | None = Field(
        None, gt=0, description="the endpoint's request quota; calls wait for it instead of drawing HTTP 429s"
    )
    tokens_per_minute: float | None = Field(
        None, gt=0, description="the endpoint's token quota (prompt + max_tokens estimated, corrected by usage)"
    )


class JudgeConfig(_Strict):
    backend: Literal["rules", "openai", "hf"] = "rules"
    endpoint: EndpointConfig = EndpointConfig()
    hf_model: str | None = None
    numeric_tolerance: float = Field(0.01, ge=0)
    match: Literal["contains", "exact"] = Field(
        "contains",
        description="rules judge: `contains` (the answer states the gold answer somewhere) or `exact` (the answer, "
        "normalised, is the gold answer: stricter, e.g. for evaluating with another judge than the reward's)",
    )
    prompt_file: str | None = Field(
        None,
        description="a grading template to use instead of ours, with {question}, {target} (or {gold_answer}) and "
        "{predicted_answer} (or {answer}): e.g. the KnowRL authors' or SimpleQA's own grader prompt",
    )
    max_tokens: int = Field(4096, ge=1, description="upper bound on a grade reply (the authors allow 4096)")


class ExtractorConfig(_Strict):
    backend: Literal["rules", "openai", "hf"] = "rules"
    endpoint: EndpointConfig = EndpointConfig()
    hf_model: str | None = None
    max_facts: int | None = Field(None, ge=1, description="cap on facts per completion; none by default")
    prompt_file: str | None = Field(None, description="an extraction template to use instead of ours, with {text}")
    max_tokens: int = Field(4096, ge=1, description="upper bound on an extraction reply (the authors allow 4096)")


class VerifierConfig(_Strict):
    backend: Literal["lexical", "nli", "openai"] = "lexical"
    endpoint: EndpointConfig = EndpointConfig()
    nli_model: str = "MoritzLaurer/DeBERTa-v3-base-mnli-fever-anli"
    entailment_threshold: float = Field(0.3, ge=0, le=1)
    batch_size: int = Field(32, ge=1)
    lexical_min_overlap: float = Field(0.6, ge=0, le=1)
    top_k: int = Field(5, ge=1)
    query: Literal["topic_and_fact", "fact"] = Field(
        "topic_and_fact", description="retrieval query: the question's title string + ' ' + the fact (the authors')"
    )
