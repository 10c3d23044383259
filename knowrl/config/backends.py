"""Configs of the judge, fact extractor and fact verifier backends (shared by grpo and evaluate)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EndpointConfig(_Strict):
    """An OpenAI-compatible endpoint. The key is read from the named environment variable at call time."""

    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(16, ge=1)
    timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(4, ge=0)
    backoff_s: float = Field(0.5, ge=0)


class JudgeConfig(_Strict):
    backend: Literal["rules", "openai", "hf"] = "rules"
    endpoint: EndpointConfig = EndpointConfig()
    hf_model: str | None = None
    numeric_tolerance: float = Field(0.01, ge=0)


class ExtractorConfig(_Strict):
    backend: Literal["rules", "openai", "hf"] = "rules"
    endpoint: EndpointConfig = EndpointConfig()
    hf_model: str | None = None
    max_facts: int = Field(32, ge=1)


class VerifierConfig(_Strict):
    backend: Literal["lexical", "nli", "openai"] = "lexical"
    endpoint: EndpointConfig = EndpointConfig()
    nli_model: str = "MoritzLaurer/DeBERTa-v3-base-mnli-fever-anli"
    entailment_threshold: float = Field(0.3, ge=0, le=1)
    batch_size: int = Field(32, ge=1)
    lexical_min_overlap: float = Field(0.6, ge=0, le=1)
    top_k: int = Field(5, ge=1)
