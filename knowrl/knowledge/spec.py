"""The knowledge stage: the Wikipedia passages the data's titles need, indexed for retrieval scoped by title."""

from knowrl.knowledge.config import KnowledgeConfig
from knowrl.knowledge.result import KnowledgeRef
from knowrl.pipeline.spec import StageSpec

KNOWLEDGE = StageSpec(
    name="knowledge",
    config=KnowledgeConfig,
    result=KnowledgeRef,
    upstream=("data:rl",),
    packages=("knowrl.knowledge",),
    run="knowrl.knowledge.stage:run_knowledge_stage",
    report="knowrl.knowledge.report:knowledge_report",
    retries=3,
    description="build the title-scoped knowledge store",
)
