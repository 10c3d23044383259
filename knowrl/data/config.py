"""The data stage's recipe section: where the RL and cold-start sets come from, and the rules rows must pass."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from knowrl.config.types import RecipePath, StrictModel


class DataRules(StrictModel):
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


class DataConfig(StrictModel):
    rl_source: RecipePath = Field(description="Hub dataset id or local JSON/JSONL/Parquet file or directory")
    rl_file: str | None = None
    coldstart_source: RecipePath | None = None
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
