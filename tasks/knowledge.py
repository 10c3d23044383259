"""Prefect task of the knowledge stage."""

from __future__ import annotations

from typing import Any

from prefect.artifacts import create_table_artifact

from knowrl.config.stages import KnowledgeConfig
from knowrl.pipeline.refs import DataRef, KnowledgeRef, ref_from_dict
from tasks.common import finish, make_context, md_table, stage_task


@stage_task("knowledge", retries=3)
def knowledge_stage(config: KnowledgeConfig, upstream: dict[str, Any]) -> KnowledgeRef:
    # Imported when the stage computes, not when the flow loads: a cached run never imports torch or TRL.
    from knowrl.knowledge.stage import run_knowledge_stage

    ctx = make_context("knowledge")
    data_ref = ref_from_dict("data", upstream["data"])
    assert isinstance(data_ref, DataRef)
    ref = run_knowledge_stage(config, data_ref, ctx)
    coverage = [
        {
            k: getattr(ref, k)
            for k in (
                "titles_needed",
                "titles_found",
                "titles_missing",
                "coverage",
                "pages_indexed_now",
                "pages_total",
                "segments",
            )
        }
    ]
    create_table_artifact(coverage, key="knowrl-knowledge-coverage", description="knowledge store coverage")
    missing = "\n".join(f"- {t}" for t in ref.missing_examples) or "_none_"
    summary = f"# Knowledge\n\n{md_table(coverage)}\n\n## Missing titles (first 10)\n\n{missing}\n"
    return finish("knowledge", ctx, config, upstream, ref, summary)
