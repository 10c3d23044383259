"""The local Hub speaks what the real clients need: huggingface_hub's snapshot_download, hf_hub_download, repo info,
tree/paths-info and upload, and datasets' load_dataset (README configs included) on the paper recipe's repo layouts."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from tests.support import hub_clients
from tests.support.hub_clients import point_clients_at
from tests.support.hub_layouts import (
    AIME_ROWS,
    GPQA_COLUMNS,
    KNOWRL_SEPARATOR,
    PAPER_REPOS,
    SHARED_TRAIN_DATA,
    knowrl_rows,
    register,
)
from tests.support.hub_server import LocalHubServer

local_hub = hub_clients.local_hub  # the fixture, usable in this module

TOKEN = "hf_local_test_token"


@pytest.fixture
def token_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A server that answers only requests carrying TOKEN."""
    with LocalHubServer(require_token=TOKEN) as hub:
        point_clients_at(hub, monkeypatch, tmp_path / "hf-cache")
        yield hub


def _model_folder(root: Path, weights: bytes = b"\x00\x01" * 512) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps({"model_type": "qwen2", "hidden_size": 8}))
    (root / "model.safetensors").write_bytes(weights)
    (root / "notes.txt").write_text("not asked for")
    return root


def test_snapshot_download_fetches_a_model_folder(local_hub: LocalHubServer, tmp_path: Path) -> None:
    from huggingface_hub import HfApi, snapshot_download

    sha = local_hub.add_model("org/tiny-model", _model_folder(tmp_path / "model"))
    path = Path(
        snapshot_download(
            "org/tiny-model",
            revision="main",
            cache_dir=tmp_path / "cache",
            allow_patterns=["*.json", "*.safetensors"],
        )
    )
    assert path.name == sha and sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors"]
    assert (path / "model.safetensors").read_bytes() == (tmp_path / "model" / "model.safetensors").read_bytes()
    assert json.loads((path / "config.json").read_text())["model_type"] == "qwen2"
    info = HfApi().model_info("org/tiny-model", files_metadata=True)
    assert info.sha == sha and {s.rfilename for s in info.siblings} == {
        "config.json",
        "model.safetensors",
        "notes.txt",
    }
    weights = next(s for s in info.siblings if s.rfilename == "model.safetensors")
    assert weights.lfs is not None and weights.lfs.size == 1024  # *.safetensors is LFS on the Hub
    # The weights came from the CDN (a 302 from /resolve), stored under their sha256; config.json from /resolve.
    blob = (path / "model.safetensors").resolve()
    assert blob.name == weights.lfs.sha256
    assert f"GET /org/tiny-model/resolve/{sha}/config.json" in local_hub.requested()
    assert local_hub.requested("GET", cdn=True) == [f"GET /org/tiny-model/{weights.lfs.sha256}"]
    assert sorted(local_hub.state.downloads) == [
        f"org/tiny-model@{sha}/config.json",
        f"org/tiny-model@{sha}/model.safetensors",
    ]
    assert not local_hub.state.unexpected


def test_hf_hub_download_of_the_knowledge_base_needs_the_token(token_hub: LocalHubServer, tmp_path: Path) -> None:
    if not SHARED_TRAIN_DATA.is_dir():
        pytest.skip("the KnowRL training data copies are not here")
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    sha = register(token_hub, "zjunlp/KnowRL-Knowledge-Base", tmp_path / "repos")
    kwargs = {"repo_type": "dataset", "revision": "main", "cache_dir": tmp_path / "cache"}
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("zjunlp/KnowRL-Knowledge-Base", "knowledge_base.db", **kwargs)
    with pytest.raises(HfHubHTTPError, match="401"):
        hf_hub_download("zjunlp/KnowRL-Knowledge-Base", "knowledge_base.db", token="hf_wrong", **kwargs)
    path = hf_hub_download("zjunlp/KnowRL-Knowledge-Base", "knowledge_base.db", token=TOKEN, **kwargs)
    assert Path(path).parent.name == sha
    with sqlite3.connect(path) as con:
        columns = [(row[1], row[2], row[5]) for row in con.execute("PRAGMA table_info(documents)")]
        pages = dict(con.execute("SELECT title, text FROM documents").fetchall())
    assert columns == [("title", "TEXT", 1), ("text", "TEXT", 0)]
    rl, _ = knowrl_rows(8)
    for row in rl:
        for title in row["title"].split(";"):
            assert row["answers"] in pages[title] and KNOWRL_SEPARATOR in pages[title]
    assert "Okapi" in pages  # and pages no question cites
    # An LFS file: the token went to the Hub, not to the CDN that served the bytes.
    cdn = [r for r in token_hub.state.requests if r.cdn]
    assert len(cdn) == 1 and cdn[0].authorization == "" and cdn[0].status == 200
    assert all(r.authorization == f"Bearer {TOKEN}" for r in token_hub.state.requests if not r.cdn and r.status < 400)


def test_a_gated_repo_opens_with_a_token(local_hub: LocalHubServer, tmp_path: Path, monkeypatch) -> None:
    import datasets
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import GatedRepoError

    register(local_hub, "Idavidrein/gpqa", tmp_path / "repos")
    kwargs = {"repo_type": "dataset", "revision": "main", "cache_dir": tmp_path / "cache"}
    with pytest.raises(GatedRepoError):
        hf_hub_download("Idavidrein/gpqa", "gpqa_diamond.csv", **kwargs)
    path = hf_hub_download("Idavidrein/gpqa", "gpqa_diamond.csv", token=TOKEN, **kwargs)
    rows = list(csv.DictReader(io.StringIO(Path(path).read_text())))
    assert list(rows[0]) == GPQA_COLUMNS and len(rows) == 3
    assert all(len({r["Correct Answer"], *(r[f"Incorrect Answer {k}"] for k in (1, 2, 3))}) == 4 for r in rows)

    monkeypatch.setenv("HF_TOKEN", TOKEN)  # as a run passes it: datasets reads it through huggingface_hub
    ds = datasets.load_dataset("Idavidrein/gpqa", "gpqa_diamond", split="train", cache_dir=str(tmp_path / "ds"))
    assert ds.num_rows == 3 and ds[0]["Question"] == rows[0]["Question"]


@pytest.mark.parametrize(
    ("repo_id", "config", "split", "columns"),
    [
        ("basicv8vc/SimpleQA", None, "test", ["metadata", "problem", "answer"]),
        (
            "OpenStellarTeam/Chinese-SimpleQA",
            None,
            "train",
            ["id", "primary_category", "secondary_category", "question", "answer", "urls"],
        ),
        (
            "truthfulqa/truthful_qa",
            "generation",
            "validation",
            ["type", "category", "question", "best_answer", "correct_answers", "incorrect_answers", "source"],
        ),
        ("opencompass/AIME2025", "AIME2025-I", "test", ["question", "answer"]),
        ("opencompass/AIME2025", "AIME2025-II", "test", ["question", "answer"]),
        (
            "google/simpleqa-verified",
            None,
            "eval",
            [
                "original_index",
                "problem",
                "answer",
                "topic",
                "answer_type",
                "multi_step",
                "requires_reasoning",
                "urls",
            ],
        ),
    ],
)
def test_load_dataset_reads_each_eval_layout(
    local_hub: LocalHubServer, tmp_path: Path, repo_id: str, config: str | None, split: str, columns: list[str]
) -> None:
    import datasets

    sha = register(local_hub, repo_id, tmp_path / "repos")
    ds = datasets.load_dataset(repo_id, config, split=split, revision="main", cache_dir=str(tmp_path / "ds"))
    assert ds.column_names == columns and 3 <= ds.num_rows <= 10
    assert (config, split) in PAPER_REPOS[repo_id].loads
    served = [d for d in local_hub.state.downloads if d.startswith(f"datasets/{repo_id}@{sha}/")]
    assert f"datasets/{repo_id}@{sha}/README.md" in served and len(served) >= 2  # the card and the data
    if config == "AIME2025-II":
        assert ds["answer"] == [a for _, a in AIME_ROWS["II"]] and all(a.isdigit() for a in ds["answer"])
    if repo_id == "truthfulqa/truthful_qa":
        assert isinstance(ds[0]["correct_answers"], list)
        assert local_hub.requested("GET", cdn=True)  # parquet files are LFS: served by the CDN
    assert not local_hub.state.unexpected


def test_a_new_revision_has_a_new_sha_and_new_files(local_hub: LocalHubServer, tmp_path: Path) -> None:
    import datasets
    from huggingface_hub import HfApi, hf_hub_download

    first = register(local_hub, "opencompass/AIME2025", tmp_path / "repos")
    assert register(local_hub, "opencompass/AIME2025", tmp_path / "again") == first  # same files: same commit
    api = HfApi()
    assert api.dataset_info("opencompass/AIME2025", revision="main").sha == first
    kwargs = {"repo_type": "dataset", "cache_dir": tmp_path / "cache"}
    old = Path(hf_hub_download("opencompass/AIME2025", "aime2025-I.jsonl", revision="main", **kwargs)).read_text()

    line = json.dumps({"question": "A new made-up problem: find $6 \\times 7$.", "answer": "42"}) + "\n"
    second = local_hub.add_dataset("opencompass/AIME2025", {"aime2025-I.jsonl": line}, message="Fix problem 1")
    assert second != first and api.dataset_info("opencompass/AIME2025", revision="main").sha == second
    new = Path(hf_hub_download("opencompass/AIME2025", "aime2025-I.jsonl", revision="main", **kwargs))
    assert new.read_text() == line and new.parent.name == second
    assert f"datasets/opencompass/AIME2025@{second}/aime2025-I.jsonl" in local_hub.state.downloads
    at_first = hf_hub_download("opencompass/AIME2025", "aime2025-I.jsonl", revision=first, **kwargs)
    assert Path(at_first).read_text() == old  # the old commit stays readable

    ds = datasets.load_dataset("opencompass/AIME2025", "AIME2025-I", split="test", cache_dir=str(tmp_path / "ds"))
    assert ds["answer"] == ["42"]
    commits = api.list_repo_commits("opencompass/AIME2025", repo_type="dataset")
    assert [c.commit_id for c in commits] == [second, first] and commits[0].title == "Fix problem 1"


def test_missing_things_raise_the_clients_real_errors(local_hub: LocalHubServer, tmp_path: Path) -> None:
    import datasets
    from huggingface_hub import HfApi, hf_hub_download, snapshot_download
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    sha = register(local_hub, "basicv8vc/SimpleQA", tmp_path / "repos")
    kwargs = {"repo_type": "dataset", "cache_dir": tmp_path / "cache"}
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("nobody/nothing", "data.csv", **kwargs)
    with pytest.raises(RepositoryNotFoundError):
        HfApi().dataset_info("nobody/nothing")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download("basicv8vc/SimpleQA", "simple_qa_train_set.csv", **kwargs)
    assert (tmp_path / "cache" / "datasets--basicv8vc--SimpleQA" / ".no_exist" / sha).is_dir()  # from X-Repo-Commit
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download("basicv8vc/SimpleQA", "simple_qa_test_set.csv", revision="v9", **kwargs)
    with pytest.raises(RevisionNotFoundError):
        HfApi().dataset_info("basicv8vc/SimpleQA", revision="v9")
    with pytest.raises(RevisionNotFoundError):
        snapshot_download("basicv8vc/SimpleQA", revision="v9", **kwargs)
    with pytest.raises(datasets.exceptions.DatasetNotFoundError):
        datasets.load_dataset("nobody/nothing", split="train", cache_dir=str(tmp_path / "ds"))
    errors = [r for r in local_hub.state.requests if r.status == 404]
    assert errors and not local_hub.state.unexpected


def test_tree_and_paths_info_page_and_expand(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoFile, RepoFolder

    with LocalHubServer(tree_page_size=2) as hub:
        point_clients_at(hub, monkeypatch, tmp_path / "hf-cache")
        first = register(hub, "truthfulqa/truthful_qa", tmp_path / "repos")
        second = hub.add_dataset("truthfulqa/truthful_qa", {"README.md": "---\nlicense: apache-2.0\n---\n"})
        api = HfApi()
        tree = list(api.list_repo_tree("truthfulqa/truthful_qa", recursive=True, repo_type="dataset"))
        paths = {e.path: e for e in tree}
        assert set(paths) == {
            ".gitattributes",
            "README.md",
            "generation",
            "generation/validation-00000-of-00001.parquet",
            "multiple_choice",
            "multiple_choice/validation-00000-of-00001.parquet",
        }
        assert isinstance(paths["generation"], RepoFolder) and isinstance(paths["README.md"], RepoFile)
        assert paths["generation/validation-00000-of-00001.parquet"].lfs is not None and paths["README.md"].lfs is None
        assert len(hub.requested("GET", contains="/tree/main")) == 3  # six entries, two per page
        info = api.get_paths_info(
            "truthfulqa/truthful_qa", ["README.md", "generation", "missing.txt"], expand=True, repo_type="dataset"
        )
        last = {e.path: e.last_commit.oid for e in info}
        assert last == {"README.md": second, "generation": first}


def test_an_uploaded_model_can_be_downloaded(local_hub: LocalHubServer, tmp_path: Path, monkeypatch) -> None:
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import RepositoryNotFoundError

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    api = HfApi()
    api.create_repo("org/published", private=True)
    commit = api.upload_file(path_or_fileobj=b'{"a": 1}', path_in_repo="config.json", repo_id="org/published")
    path = hf_hub_download("org/published", "config.json", cache_dir=tmp_path / "cache")
    assert Path(path).read_bytes() == b'{"a": 1}' and Path(path).parent.name == commit.oid
    info = api.model_info("org/published")
    assert info.private is True and info.sha == commit.oid
    assert [c.title for c in api.list_repo_commits("org/published")][-1] == "initial commit"
    assert local_hub.state.commits[0]["files"] == {"config.json": b'{"a": 1}'} and not local_hub.state.unexpected
    with pytest.raises(RepositoryNotFoundError):  # private: not without a token
        hf_hub_download("org/published", "config.json", cache_dir=tmp_path / "cache2", token=False)


def test_a_pinned_dataset_sha_overrides_the_hosted_repo(local_hub: LocalHubServer, tmp_path: Path) -> None:
    from huggingface_hub import HfApi

    hosted = register(local_hub, "basicv8vc/SimpleQA", tmp_path / "repos")
    local_hub.state.dataset_shas["basicv8vc/SimpleQA@main"] = "a" * 40  # what the data stage's probe tests set
    assert HfApi().dataset_info("basicv8vc/SimpleQA", revision="main").sha == "a" * 40
    assert HfApi().dataset_info("basicv8vc/SimpleQA", revision=hosted).sha == hosted
    assert local_hub.state.dataset_info_calls == ["basicv8vc/SimpleQA@main", f"basicv8vc/SimpleQA@{hosted}"]


@pytest.mark.parametrize("repo_id", [r for r, layout in PAPER_REPOS.items() if layout.files])
def test_named_files_download_byte_for_byte(local_hub: LocalHubServer, tmp_path: Path, repo_id: str) -> None:
    if repo_id.startswith("zjunlp/") and not SHARED_TRAIN_DATA.is_dir():
        pytest.skip("the KnowRL training data copies are not here")
    from huggingface_hub import hf_hub_download

    sha = register(local_hub, repo_id, tmp_path / "repos")
    folder = tmp_path / "repos" / repo_id.replace("/", "--")
    for name in PAPER_REPOS[repo_id].files:
        path = hf_hub_download(repo_id, name, repo_type="dataset", cache_dir=tmp_path / "cache", token=TOKEN)
        assert Path(path).read_bytes() == (folder / name).read_bytes()
        assert f"datasets/{repo_id}@{sha}/{name}" in local_hub.state.downloads
    if repo_id == "zjunlp/KnowRL-Train-Data":
        rl = json.loads((folder / "knowrl_RLdata.json").read_text())
        coldstart = json.loads((folder / "knowrl_coldstart.json").read_text())
        assert {tuple(sorted(r)) for r in rl} == {("answers", "question", "title")}
        assert [t["from"] for t in coldstart[0]["conversations"]] == ["human", "gpt"]
