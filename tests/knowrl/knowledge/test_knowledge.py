from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from knowrl.data.config import DataConfig
from knowrl.data.stage import run_data_stage
from knowrl.knowledge.config import KnowledgeConfig
from knowrl.knowledge.passages import KNOWRL_SEPARATOR, split_passages
from knowrl.knowledge.sources import KnowledgeSourceError
from knowrl.knowledge.stage import open_store, run_knowledge_stage
from storage.knowledge import KnowledgeTables
from tests.support.tiny_sentence_encoder import build_tiny_sentence_encoder

PAGES = {
    "Alpha Centauri": [
        "Alpha Centauri is the closest star system to the Solar System.",
        "Proxima Centauri orbits the binary pair at a great distance.",
    ],
    "Mount Everest": [
        "Mount Everest is the highest mountain above sea level.",
        "Edmund Hillary and Tenzing Norgay reached the summit in 1953 using supplemental oxygen.",
    ],
    "Zebra": ["Zebras are African equines with black and white stripes."],
    "Empty Page": [],
}


def _rl_file(tmp_path: Path, rows: list[tuple[str, str]]) -> Path:
    path = tmp_path / "rl.jsonl"
    path.write_text("".join(json.dumps({"question": q, "answers": "x", "title": t}) + "\n" for q, t in rows))
    return path


def _sqlite_kb(path: Path) -> Path:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE documents (title TEXT PRIMARY KEY, text TEXT)")
    for title, passages in PAGES.items():
        con.execute("INSERT INTO documents VALUES (?, ?)", [title, KNOWRL_SEPARATOR.join(passages)])
    con.commit()
    con.close()
    return path


@pytest.fixture
def data_ref(ctx, tmp_path: Path):
    rows = [
        ("Who first climbed Everest?", "mount_everest ; Edmund Hillary"),
        ("What is the closest star?", "alpha centauri"),
        ("Where do zebras live?", "Zebra;Empty Page"),
    ]
    return run_data_stage(DataConfig(rl_source=str(_rl_file(tmp_path, rows))), {}, ctx)


def test_knowrl_sqlite_import_scoped_by_normalised_titles(ctx, tmp_path: Path, data_ref) -> None:
    kb = _sqlite_kb(tmp_path / "kb.db")
    ref = run_knowledge_stage(KnowledgeConfig(source=str(kb)), {"data": data_ref}, ctx)
    assert (ref.titles_needed, ref.titles_found) == (5, 3)
    assert sorted(ref.missing_examples) == ["Edmund Hillary", "Empty Page"]
    tables = KnowledgeTables(ctx.warehouse)
    # The KnowRL DB's own passages are kept as they are.
    assert tables.passages(ref.store_key, "mount everest") == PAGES["Mount Everest"]
    with ctx.warehouse.connect() as con:
        reasons = con.execute("SELECT title, reason FROM knowledge_quarantine").fetchall()
    assert reasons == [("Empty Page", "empty page text")]


def test_questions_without_any_title_are_counted_and_can_be_dropped(ctx, tmp_path: Path) -> None:
    from knowrl.knowledge.stage import rows_to_drop
    from knowrl.train.config import GRPOStageConfig
    from knowrl.train.grpo import grpo_rows

    rows = [
        ("Who first climbed Everest?", "Mount Everest;Nobody Knows"),
        ("What is a quasar?", "Quasar;Active galactic nucleus"),  # neither title in the KB
        ("Where do zebras live?", "Zebra"),
        ("Whose page is keyed by the whole title string?", "Per Question;Key"),
    ]
    data = run_data_stage(DataConfig(rl_source=str(_rl_file(tmp_path, rows)), heldout_fraction=0.0), {}, ctx)
    kb = _sqlite_kb(tmp_path / "kb.db")
    con = sqlite3.connect(kb)
    con.execute("INSERT INTO documents VALUES (?, ?)", ["Per Question;Key", "A page stored under a joined title."])
    con.commit()
    con.close()
    kept = run_knowledge_stage(KnowledgeConfig(source=str(kb)), {"data": data}, ctx)
    assert (kept.questions, kept.questions_without_titles) == (4, 1)
    assert rows_to_drop(kept, ctx) == set()
    store = open_store(kept, ctx)
    assert store.search("joined title", ["Per Question", "Key", "Per Question;Key"], k=1).passages  # topic key
    dropped = run_knowledge_stage(
        KnowledgeConfig(source=str(kb), drop_questions_without_titles=True), {"data": data}, ctx
    )
    assert dropped.fingerprint != kept.fingerprint  # GRPO re-runs when the option changes
    drop = rows_to_drop(dropped, ctx)
    cfg = GRPOStageConfig(prompt_style="user")  # a conversation: no tokenizer needed to lay it out
    questions = [r["question"] for r in grpo_rows(ctx, data.rl.fingerprint, None, cfg, drop)]
    assert len(drop) == 1 and "What is a quasar?" not in questions and len(questions) == 3


def test_scoped_search_ranks_rare_words_first_and_never_leaves_the_titles(ctx, tmp_path: Path, data_ref) -> None:
    ref = run_knowledge_stage(KnowledgeConfig(source=str(_sqlite_kb(tmp_path / "kb.db"))), {"data": data_ref}, ctx)
    store = open_store(ref, ctx)
    result = store.search("supplemental oxygen summit", ["Mount_Everest"], k=2)
    assert result.passages[0].text == PAGES["Mount Everest"][1]
    scoped = store.search("Proxima orbits", ["Mount Everest"], k=5)
    assert {p.title for p in scoped.passages} == {"Mount Everest"}
    # None of the titles in the store: no evidence, and no fallback to other pages (the authors' retriever).
    unknown = store.search("Proxima orbits", ["Unknown Page"], k=1)
    assert unknown.passages == [] and unknown.missing_titles == ["Unknown Page"]
    assert not store.covers(["Unknown Page"]) and store.covers(["Unknown Page", "zebra"])
    batch = store.search_batch(["zebras stripes", "highest mountain"], [["zebra"], ["Mount Everest", "Zebra"]], k=1)
    assert [r.passages[0].title for r in batch] == ["Zebra", "Mount Everest"]


def test_parquet_dump_import_with_passage_splitting(ctx, tmp_path: Path, data_ref) -> None:
    long_text = "Mount Everest is very high. " * 30 + "\n\nA second paragraph about the summit."
    dump = tmp_path / "wiki.parquet"
    pq.write_table(
        pa.Table.from_pylist(
            [
                {"id": "1", "title": "Mount Everest", "text": long_text, "url": "u"},
                {"id": "2", "title": "Unrelated", "text": "Not needed by the data."},
            ]
        ),
        dump,
    )
    ref = run_knowledge_stage(KnowledgeConfig(source=str(dump), passage_max_tokens=40), {"data": data_ref}, ctx)
    assert ref.titles_found == 1 and ref.pages_total == 1
    passages = KnowledgeTables(ctx.warehouse).passages(ref.store_key, "mount everest")
    assert len(passages) >= 4 and all(len(p.split()) <= 40 for p in passages)
    assert passages[-1] == "A second paragraph about the summit."


def test_split_passages_keeps_sentences() -> None:
    text = "One two three. Four five six seven. Eight nine.\n\nTen eleven."
    assert split_passages(text, 7) == ["One two three. Four five six seven.", "Eight nine.", "Ten eleven."]
    assert split_passages("a " * 25, 10) == ["a " * 9 + "a"] * 2 + ["a a a a a"]


def test_incremental_build_indexes_only_new_pages(ctx, tmp_path: Path, data_ref) -> None:
    kb = _sqlite_kb(tmp_path / "kb.db")
    first = run_knowledge_stage(KnowledgeConfig(source=str(kb)), {"data": data_ref}, ctx)
    again = run_knowledge_stage(KnowledgeConfig(source=str(kb)), {"data": data_ref}, ctx)
    assert again.pages_indexed_now == 0 and again.fingerprint == first.fingerprint
    bigger = _rl_file(
        tmp_path,
        [
            ("Who first climbed Everest?", "Mount Everest"),
            ("Where do zebras live?", "Zebra"),
            ("What is the closest star?", "Alpha Centauri"),
        ],
    )
    newer = run_data_stage(DataConfig(rl_source=str(bigger)), {}, ctx)
    # Same titles, new data version: nothing new to index.
    assert run_knowledge_stage(KnowledgeConfig(source=str(kb)), {"data": newer}, ctx).pages_indexed_now == 0
    con = sqlite3.connect(kb)
    con.execute("INSERT INTO documents VALUES ('Yak', 'Yaks live in the Himalayas.')")
    con.commit()
    con.close()
    added = _rl_file(tmp_path, [("Where do yaks live?", "Yak"), ("What is the closest star?", "Alpha Centauri")])
    ref = run_knowledge_stage(
        KnowledgeConfig(source=str(kb)), {"data": run_data_stage(DataConfig(rl_source=str(added)), {}, ctx)}, ctx
    )
    # The KB file changed, so this is a new store key: it imports the pages this data needs.
    assert ref.pages_indexed_now == 2


def test_new_titles_add_a_segment_and_old_segments_are_reused(ctx, tmp_path: Path) -> None:
    kb = _sqlite_kb(tmp_path / "kb.db")
    one = run_data_stage(DataConfig(rl_source=str(_rl_file(tmp_path, [("Where do zebras live?", "Zebra")]))), {}, ctx)
    first = run_knowledge_stage(KnowledgeConfig(source=str(kb)), {"data": one}, ctx)
    assert (first.pages_indexed_now, first.segments) == (1, 1)
    two_rows = [("Where do zebras live?", "Zebra"), ("What is the closest star?", "Alpha Centauri")]
    two = run_data_stage(DataConfig(rl_source=str(_rl_file(tmp_path, two_rows))), {}, ctx)
    second = run_knowledge_stage(KnowledgeConfig(source=str(kb)), {"data": two}, ctx)
    assert (second.pages_indexed_now, second.segments, second.pages_total) == (1, 2, 2)
    store = open_store(second, ctx)
    assert store.search("stripes", ["Zebra"], 1).passages[0].title == "Zebra"
    assert store.search("closest star", ["Alpha Centauri"], 1).passages[0].title == "Alpha Centauri"


def test_corrupt_inputs_give_documented_errors(ctx, tmp_path: Path, data_ref) -> None:
    not_sqlite = tmp_path / "kb.db"
    not_sqlite.write_bytes(b"this is not a database")
    with pytest.raises(KnowledgeSourceError, match="neither a SQLite database"):
        run_knowledge_stage(KnowledgeConfig(source=str(not_sqlite)), {"data": data_ref}, ctx)
    no_table = tmp_path / "empty.db"
    sqlite3.connect(no_table).execute("CREATE TABLE other (x)").connection.commit()
    with pytest.raises(KnowledgeSourceError, match="no table 'documents'"):
        run_knowledge_stage(KnowledgeConfig(source=str(no_table)), {"data": data_ref}, ctx)
    bad_cols = tmp_path / "cols.parquet"
    pq.write_table(pa.table({"name": ["x"]}), bad_cols)
    with pytest.raises(KnowledgeSourceError, match="needs title and text"):
        run_knowledge_stage(KnowledgeConfig(source=str(bad_cols)), {"data": data_ref}, ctx)
    with pytest.raises(KnowledgeSourceError, match="neither a local path nor a Hub dataset id"):
        run_knowledge_stage(KnowledgeConfig(source="./nope.db"), {"data": data_ref}, ctx)
    nothing = tmp_path / "nothing.jsonl"
    nothing.write_text(json.dumps({"title": "Other", "text": "x"}) + "\n")
    with pytest.raises(ValueError, match="has none of the 5 titles"):
        run_knowledge_stage(KnowledgeConfig(source=str(nothing)), {"data": data_ref}, ctx)


@pytest.fixture(scope="module")
def sentence_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny sentence-transformers model shaped like gtr-t5-large (T5 encoder, mean pooling, dense, normalise)."""
    return build_tiny_sentence_encoder(tmp_path_factory.mktemp("st"))


def test_sentence_transformers_model_runs_its_own_modules(sentence_encoder: Path) -> None:
    from knowrl.knowledge.dense import Embedder

    embedder = Embedder(sentence_encoder)
    vectors = embedder.encode(["Mount Everest is the highest mountain", "zebras"])
    # The dense projection (32 -> 16) ran after the encoder's pooling, and the rows are unit vectors.
    assert vectors.shape == (2, 16) and embedder.dimension == 16
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert type(embedder.model[0].auto_model).__name__ == "T5EncoderModel"  # encoder only, no decoder inputs


def test_dense_backend_behind_the_same_interface(ctx, tmp_path: Path, data_ref, sentence_encoder: Path) -> None:
    from knowrl.knowledge.dense import Embedder, passage_input

    kb = _sqlite_kb(tmp_path / "kb.db")
    cfg = KnowledgeConfig(source=str(kb), backend="dense", dense_model=str(sentence_encoder))
    store = open_store(run_knowledge_stage(cfg, {"data": data_ref}, ctx), ctx)
    assert store.dense is not None
    exact = PAGES["Mount Everest"][1]
    result = store.search(passage_input("Mount Everest", exact), ["Mount Everest", "Zebra"], k=3)
    assert result.passages[0].text == exact  # the passage is embedded as "title text": cosine similarity 1
    assert result.scores[0] == pytest.approx(1.0, abs=1e-4)
    assert {p.title for p in result.passages} <= {"Mount Everest", "Zebra"}
    query = Embedder(sentence_encoder).encode([passage_input("Zebra", PAGES["Zebra"][0])])
    assert np.allclose(store.dense.embedder.encode([passage_input("Zebra", PAGES["Zebra"][0])]), query, atol=1e-5)
    assert store.search(PAGES["Alpha Centauri"][0], ["Nowhere"], k=1).passages == []
    with pytest.raises(ValueError, match="needs knowledge.dense_model"):
        run_knowledge_stage(
            KnowledgeConfig(source=str(kb), backend="dense", passage_max_tokens=99), {"data": data_ref}, ctx
        )


def test_hub_knowledge_base_keeps_the_real_download_path(ctx, data_ref, hub_offline: None) -> None:
    cfg = KnowledgeConfig(source="zjunlp/KnowRL-Knowledge-Base", hub_file="knowledge_base.db", revision="main")
    with pytest.raises(KnowledgeSourceError, match=r"zjunlp/KnowRL-Knowledge-Base.*knowledge_base.db.*revision main"):
        run_knowledge_stage(cfg, {"data": data_ref}, ctx)
