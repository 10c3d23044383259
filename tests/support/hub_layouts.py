"""Small copies of the Hub repos the paper recipe names, in their real layout (file names, formats, column names,
README configs), for `LocalHubServer` to serve: `write(folder)` fills a folder, `register(hub, repo_id, root)` also
commits it to the server.

Rows are made up (5-10 per set) except the KnowRL training rows, taken from the real copies in
/work/shared/data/knowrl-train-data/. Each writer's docstring says where its layout facts come from; "the Hub page"
means the repo's file listing or card as stored by the search corpus (huggingface.co pages and mirrors)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.hub_layouts_choice import GPQA_COLUMNS, gpqa, truthfulqa
from tests.support.hub_layouts_qa import AIME_ROWS, aime2025, chinese_simpleqa, simpleqa, simpleqa_verified
from tests.support.hub_server import HUB_DEFAULT_GITATTRIBUTES, LocalHubServer
from tests.support.layout_files import write_files

__all__ = ["AIME_ROWS", "GPQA_COLUMNS", "PAPER_REPOS", "knowledge_pages", "knowrl_rows", "register"]

SHARED_TRAIN_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "knowrl-train-data"
KNOWRL_SEPARATOR = "####SPECIAL####SEPARATOR####"


# -- KnowRL training data and knowledge base ---------------------------------------------------------------------


def knowrl_rows(n: int = 8, source: Path = SHARED_TRAIN_DATA) -> tuple[list[dict], list[dict]]:
    """The first `n` rows of the real `knowrl_RLdata.json` and `knowrl_coldstart.json` copies."""
    if not source.is_dir():
        raise FileNotFoundError(f"the KnowRL training data copies are not at {source}")
    rl = json.loads((source / "knowrl_RLdata.json").read_text(encoding="utf-8"))[:n]
    coldstart = json.loads((source / "knowrl_coldstart.json").read_text(encoding="utf-8"))[:n]
    return rl, coldstart


def knowrl_train_data(folder: Path, n: int = 8, source: Path = SHARED_TRAIN_DATA) -> Path:
    """zjunlp/KnowRL-Train-Data: `knowrl_RLdata.json` (JSON list of {question, answers, title}, `title` one or more
    Wikipedia titles joined by ';') and `knowrl_coldstart.json` (ShareGPT {id, conversations: [{from: human, value},
    {from: gpt, value}]}), the first `n` rows of each real file; a README without `configs`.

    Sources: the Hub page (files `knowrl_RLdata.json` 627 kB and `knowrl_coldstart.json` 3.98 MB; card YAML `license:
    mit`, `size_categories: 1K<n<10K`, `task_categories: question-answering, text-generation`); the rows and their
    fields from /work/shared/data/knowrl-train-data (see its README). The card names a third JSON file for a later
    stage, not reproduced here."""
    rl, coldstart = knowrl_rows(n, source)
    readme = (
        "---\nlicense: mit\nsize_categories:\n- 1K<n<10K\ntask_categories:\n- question-answering\n- text-generation\n"
        "---\n\n# KnowRL-Train-Data\n\nTraining datasets for KnowRL (local test copy).\n"
    )
    return write_files(
        folder,
        {
            "README.md": readme,
            "knowrl_RLdata.json": json.dumps(rl, ensure_ascii=False, indent=4),
            "knowrl_coldstart.json": json.dumps(coldstart, ensure_ascii=False, indent=4),
        },
    )


UNRELATED_PAGES = {
    "Lake Vostok": [
        "Lake Vostok is the largest known subglacial lake in Antarctica.",
        "It lies about 4,000 metres beneath the surface of the East Antarctic ice sheet.",
    ],
    "Okapi": [
        "The okapi is an even-toed ungulate native to the Democratic Republic of the Congo.",
        "Its closest living relative is the giraffe.",
    ],
    "Harrison Bergeron": [
        "Harrison Bergeron is a short story by Kurt Vonnegut first published in 1961.",
    ],
}


def knowledge_pages(rl_rows: list[dict]) -> dict[str, list[str]]:
    """Made-up pages (title -> passages) for every title the RL rows cite, each stating the row's answer, plus a few
    unrelated pages."""
    pages: dict[str, list[str]] = {}
    for row in rl_rows:
        for title in [t.strip() for t in row["title"].split(";") if t.strip()]:
            passages = pages.setdefault(title, [f"{title} is the subject of this article."])
            passages.append(f'Asked "{row["question"]}", the sources agree: {row["answers"]}.')
    for title, passages in UNRELATED_PAGES.items():
        pages.setdefault(title, list(passages))
    return pages


def knowrl_knowledge_base(folder: Path, rl_rows: list[dict] | None = None, n: int = 8) -> Path:
    """zjunlp/KnowRL-Knowledge-Base: `knowledge_base.db`, SQLite, table `documents(title TEXT PRIMARY KEY, text TEXT)`,
    one row per page, the page's passages joined by `####SPECIAL####SEPARATOR####`; pages for the titles of `rl_rows`
    (default: the first `n` real RL rows) with made-up text that states each answer, plus unrelated pages. The db is
    an LFS file, tracked by name in `.gitattributes` (as `upload_file` does for a file over 10 MB).

    Sources: the Hub page (files `.gitattributes` 2.52 kB — the default one plus a line, committed with "Upload
    knowledge_base.db with huggingface_hub" —, `README.md`, `knowledge_base.db` 189 MB; `license: mit`); the table and
    separator from /work/shared/data/README.md, which matches the FActScore `DocDB` convention seen in
    FActScore-derived code (`SPECIAL_SEPARATOR = "####SPECIAL####SEPARATOR####"`, `MAX_LENGTH = 256`)."""
    rows = rl_rows if rl_rows is not None else knowrl_rows(n)[0]
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "knowledge_base.db"
    db.unlink(missing_ok=True)
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE documents (title TEXT PRIMARY KEY, text TEXT)")
        con.executemany(
            "INSERT INTO documents VALUES (?, ?)",
            [(title, KNOWRL_SEPARATOR.join(passages)) for title, passages in knowledge_pages(rows).items()],
        )
    con.close()
    attributes = HUB_DEFAULT_GITATTRIBUTES + "knowledge_base.db filter=lfs diff=lfs merge=lfs -text\n"
    readme = "---\nlicense: mit\n---\n\n# KnowRL-Knowledge-Base\n\nWikipedia-derived pages for the KnowRL reward.\n"
    write_files(folder, {"README.md": readme})
    (folder / ".gitattributes").write_text(attributes)
    return folder


# -- registry ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RepoLayout:
    repo_id: str
    write: Callable[[Path], Path]
    gated: bool = False
    loads: list[tuple[str | None, str]] = field(default_factory=list)  # (config name, split) that load_dataset takes
    files: tuple[str, ...] = ()  # the files a caller downloads one by one (hf_hub_download)


PAPER_REPOS: dict[str, RepoLayout] = {
    layout.repo_id: layout
    for layout in (
        RepoLayout(
            "zjunlp/KnowRL-Train-Data", knowrl_train_data, files=("knowrl_RLdata.json", "knowrl_coldstart.json")
        ),
        RepoLayout("zjunlp/KnowRL-Knowledge-Base", knowrl_knowledge_base, files=("knowledge_base.db",)),
        RepoLayout("basicv8vc/SimpleQA", simpleqa, loads=[(None, "test")]),
        RepoLayout("OpenStellarTeam/Chinese-SimpleQA", chinese_simpleqa, loads=[(None, "train")]),
        RepoLayout("truthfulqa/truthful_qa", truthfulqa, loads=[("generation", "validation")]),
        RepoLayout(
            "Idavidrein/gpqa", gpqa, gated=True, loads=[("gpqa_diamond", "train")], files=("gpqa_diamond.csv",)
        ),
        RepoLayout("opencompass/AIME2025", aime2025, loads=[("AIME2025-I", "test"), ("AIME2025-II", "test")]),
        RepoLayout("google/simpleqa-verified", simpleqa_verified, loads=[(None, "eval")]),
    )
}


def register(hub: LocalHubServer, repo_id: str, root: Path, revision: str = "main", **kw) -> str:
    """Write the layout of `repo_id` under `root` and commit it to `hub` as a dataset repo (gated as the real one);
    returns the commit sha. `kw` goes to `hub.add_dataset` (e.g. `private=True`)."""
    layout = PAPER_REPOS[repo_id]
    folder = layout.write(root / repo_id.replace("/", "--"))
    kw.setdefault("gated", layout.gated or None)
    return hub.add_dataset(repo_id, folder, revision, **kw)
