"""Knowledge stage: a passage store with title-scoped retrieval, built once and persisted as artifacts."""

from knowrl.knowledge.store import KnowledgeStore, SearchResult

__all__ = ["KnowledgeStore", "SearchResult"]
