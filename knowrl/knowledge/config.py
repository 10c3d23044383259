"""The knowledge stage's recipe section: the knowledge source, passage size and retrieval backend."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from knowrl.config.types import RecipePath, StrictModel


class KnowledgeConfig(StrictModel):
    source: RecipePath = Field(description="KnowRL SQLite KB or Wikipedia dump: Hub dataset id or local path; 'demo'")
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
