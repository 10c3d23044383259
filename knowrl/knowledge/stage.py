"""Run the knowledge stage: import the pages the training data needs, index new ones, report coverage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from knowrl.data.normalize import title_key
from knowrl.data.result import DataRef
from knowrl.hashing import stable_hash
from knowrl.knowledge.config import KnowledgeConfig
from knowrl.knowledge.result import KnowledgeRef
from knowrl.knowledge.segment import PageBatch, build_segment
from knowrl.knowledge.sources import iter_pages, resolve_kb
from knowrl.knowledge.store import STORE_FILE
from knowrl.pipeline.runtime import StageContext
from storage.datasets import DatasetTables
from storage.knowledge import KnowledgeTables

SEGMENT_STAGE = "knowledge-segment"


def question_keys(row: dict[str, Any]) -> list[str]:
    """The keys under which a question's evidence may be stored: each title, and its whole title string (a KB
    built per question keys its pages by that string)."""
    return list(dict.fromkeys([*(title_key(t) for t in row["titles"]), title_key(row["topic"])]))


def needed_titles(rows: list[dict[str, Any]]) -> dict[str, str]:
    """title key -> a display title, for every title of every accepted RL row (all splits)."""
    titles: dict[str, str] = {}
    for row in rows:
        for title in row["titles"]:
            titles.setdefault(title_key(title), title)
    return titles


UNCOVERED_FILE = "uncovered_questions.json"


def run_knowledge_stage(cfg: KnowledgeConfig, upstream: dict[str, Any], ctx: StageContext) -> KnowledgeRef:
    data_ref: DataRef = upstream["data"]
    kb = resolve_kb(cfg, ctx.paths.root / "hf-cache")
    store_key = stable_hash(f"{kb.fingerprint}:{kb.format}:{cfg.passage_max_tokens}")
    tables = KnowledgeTables(ctx.warehouse)
    rl_fp = data_ref.rl.fingerprint
    rows = DatasetTables(ctx.warehouse).rl_rows(rl_fp, split=None)
    needed = needed_titles(rows)
    lookup = set(needed) | {title_key(r["topic"]) for r in rows}
    searched = tables.searched_keys(store_key)
    segments = tables.segments(store_key)
    # scope=all imports the whole source once (None: no title filter); scope=needed only unseen titles.
    wanted = (None if not segments else set()) if cfg.scope == "all" else lookup - searched
    ctx.progress(
        f"knowledge: {len(needed)} titles needed, {len(segments)} existing segment(s), "
        f"{'all pages' if wanted is None else f'{len(wanted)} new titles'} to import from {kb.path.name}",
        0.05,
    )
    new_pages = 0
    if wanted is None or wanted:
        new_pages = _import_new_pages(cfg, ctx, kb, store_key, wanted, tables)
        segments = tables.segments(store_key)
    if not segments:
        raise ValueError(
            f"knowledge source {kb.path} has none of the {len(needed)} titles the data needs "
            f"(e.g. {list(needed.values())[:3]}); check knowledge.source or set knowledge.scope=all"
        )
    found_keys = tables.page_keys(store_key)
    coverage = {title: key in found_keys for key, title in needed.items()}
    tables.record_coverage(store_key, rl_fp, coverage)
    # A question none of whose titles is in the store has no evidence: its facts will all be unsupported.
    uncovered = [r["row_id"] for r in rows if not any(k in found_keys for k in question_keys(r))]
    store = ctx.artifacts.write(
        "knowledge",
        lambda d: _write_store(d, cfg, ctx, segments, store_key, uncovered),
        config=cfg.model_dump(mode="json"),
        inputs={"kb": kb.fingerprint, "rl": rl_fp},
    )
    n_found = sum(coverage.values())
    ref = KnowledgeRef(
        fingerprint=store.artifact_id,
        artifact_id=store.artifact_id,
        path=str(store.path),
        store_key=store_key,
        source=str(kb.path),
        segments=len(segments),
        pages_indexed_now=new_pages,
        pages_total=len(found_keys),
        titles_needed=len(needed),
        titles_found=n_found,
        titles_missing=len(needed) - n_found,
        coverage=round(n_found / len(needed), 4) if needed else 1.0,
        missing_examples=tables.missing_titles(store_key, rl_fp, limit=10),
        questions=len(rows),
        questions_without_titles=len(uncovered),
        drop_questions_without_titles=cfg.drop_questions_without_titles,
    )
    ctx.progress(
        f"knowledge: coverage {n_found}/{len(needed)} titles, {new_pages} pages indexed now; "
        f"{len(uncovered)}/{len(rows)} questions have none of their titles in the store"
        + (" (dropped from GRPO training)" if cfg.drop_questions_without_titles and uncovered else ""),
        1.0,
    )
    return ref


def _import_new_pages(
    cfg: KnowledgeConfig, ctx: StageContext, kb: Any, store_key: str, wanted: set[str] | None, tables: KnowledgeTables
) -> int:
    titles, passage_lists, pages, passages, quarantined = [], [], [], [], []
    for title, error, page_passages in iter_pages(kb, wanted, cfg.passage_max_tokens):
        if error:
            quarantined.append({"title": title, "reason": error})
            continue
        key = title_key(title)
        titles.append(title)
        passage_lists.append(page_passages)
        pages.append({"title_key": key, "title": title, "n_passages": len(page_passages), "source": str(kb.path)})
        passages.extend({"title_key": key, "passage_idx": i, "text": p} for i, p in enumerate(page_passages))
        if len(titles) % 10000 == 0:
            ctx.progress(f"knowledge: read {len(titles)} pages", None)
    segment_id = None
    if titles:
        ctx.progress(f"knowledge: indexing {len(passages)} passages of {len(titles)} pages", 0.5)
        segment = ctx.artifacts.write(
            SEGMENT_STAGE,
            lambda d: build_segment(d, PageBatch(titles, passage_lists)),
            inputs={"kb": kb.fingerprint},
            metrics={"pages": len(titles), "passages": len(passages)},
        )
        segment_id = segment.artifact_id
    searched = sorted(wanted) if wanted is not None else [p["title_key"] for p in pages]
    tables.add_segment(store_key, segment_id, pages, passages, searched, quarantined)
    return len(titles)


def _write_store(
    directory: Path, cfg: KnowledgeConfig, ctx: StageContext, segments: list[str], store_key: str, uncovered: list[str]
) -> None:
    manifest: dict[str, Any] = {
        "segments": segments,
        "store_key": store_key,
        "backend": cfg.backend,
        "drop_questions_without_titles": cfg.drop_questions_without_titles,
    }
    (directory / UNCOVERED_FILE).write_text(json.dumps(sorted(uncovered)))
    if cfg.backend == "dense":
        if not cfg.dense_model:
            raise ValueError("knowledge.backend=dense needs knowledge.dense_model (a sentence-embedding model)")
        from knowrl.knowledge.dense import Embedder, passage_input
        from knowrl.knowledge.segment import Segment

        embedder = Embedder(cfg.dense_model)
        (directory / "dense").mkdir()
        for number, segment_id in enumerate(segments):
            segment = Segment(ctx.artifacts.open(segment_id, stage=SEGMENT_STAGE, verify=False).path)
            texts = [passage_input(title, text) for title, _, text in segment.passages(range(segment.n_passages))]
            ctx.progress(f"knowledge: embedding {len(texts)} passages of segment {number + 1}/{len(segments)}", None)
            np.save(directory / "dense" / f"{segment_id}.npy", embedder.encode(texts))
        manifest["dense_model"] = cfg.dense_model
    (directory / STORE_FILE).write_text(json.dumps(manifest, indent=1))


def rows_to_drop(ref: KnowledgeRef, ctx: StageContext) -> set[str]:
    """Row ids GRPO leaves out: questions without any title in the store, when the knowledge config says so."""
    artifact = ctx.artifacts.open(ref.artifact_id, stage="knowledge", verify=False)
    manifest = json.loads((artifact.path / STORE_FILE).read_text())
    if not manifest.get("drop_questions_without_titles"):
        return set()
    return set(json.loads((artifact.path / UNCOVERED_FILE).read_text()))


def open_store(ref: KnowledgeRef, ctx: StageContext) -> Any:
    """The store a knowledge ref points to, verified against its manifest."""
    from knowrl.knowledge.dense import DenseIndex
    from knowrl.knowledge.store import KnowledgeStore

    artifact = ctx.artifacts.open(ref.artifact_id, stage="knowledge")
    manifest = json.loads((artifact.path / STORE_FILE).read_text())
    dirs = [ctx.artifacts.open(seg, stage=SEGMENT_STAGE, verify=False).path for seg in manifest["segments"]]
    dense = None
    if manifest.get("dense_model"):
        files = [artifact.path / "dense" / f"{seg}.npy" for seg in manifest["segments"]]
        dense = DenseIndex.open(manifest["dense_model"], files)
    return KnowledgeStore.open(Path(artifact.path), dirs, dense)
