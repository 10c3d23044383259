"""The evaluate stage's result: the report, and every benchmark's comparison of the base, SFT and GRPO models."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from knowrl.pipeline.refs import ArtifactRef


class EvaluateRef(ArtifactRef):
    stage: Literal["evaluate"] = "evaluate"
    report_path: str
    chart_path: str
    comparison: dict[str, Any]
    summary: str
    cache_hits: int
    models: dict[str, str]
    prompt_styles: dict[str, str] = Field(default_factory=dict)
    usage: list[dict[str, Any]] = Field(default_factory=list)

    def headline(self) -> str:
        return f"{self.summary} (report {self.report_path})"
