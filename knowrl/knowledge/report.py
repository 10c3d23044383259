"""What the knowledge stage shows in the orchestrator: coverage of the data's titles, and titles it lacks."""

from __future__ import annotations

from knowrl.knowledge.result import KnowledgeRef
from knowrl.pipeline.report import md_table
from knowrl.pipeline.runtime import StageContext
from knowrl.pipeline.spec import StageReport

COVERAGE = (
    "titles_needed",
    "titles_found",
    "titles_missing",
    "coverage",
    "pages_indexed_now",
    "pages_total",
    "segments",
)


def knowledge_report(ref: KnowledgeRef, ctx: StageContext) -> StageReport:
    coverage = [{k: getattr(ref, k) for k in COVERAGE}]
    missing = "\n".join(f"- {t}" for t in ref.missing_examples) or "_none_"
    return StageReport(
        f"# Knowledge\n\n{md_table(coverage)}\n\n## Missing titles (first 10)\n\n{missing}\n",
        tables={"knowrl-knowledge-coverage": coverage},
    )
