"""The knowledge stage's result: the title-scoped store of passages, and its coverage of the data's titles."""

from __future__ import annotations

from typing import Literal

from knowrl.pipeline.refs import ArtifactRef


class KnowledgeRef(ArtifactRef):
    stage: Literal["knowledge"] = "knowledge"
    path: str
    store_key: str
    source: str
    segments: int
    pages_indexed_now: int
    pages_total: int
    titles_needed: int
    titles_found: int
    titles_missing: int
    coverage: float
    missing_examples: list[str]
    questions: int
    questions_without_titles: int
    drop_questions_without_titles: bool

    def headline(self) -> str:
        return (
            f"coverage {self.titles_found}/{self.titles_needed} titles, {self.pages_total} pages, "
            f"{self.pages_indexed_now} indexed this run"
        )
