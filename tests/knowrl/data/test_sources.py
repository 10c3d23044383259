"""The data stage's cache-key probe: what a source holds now, without downloading it."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowrl.data.config import DataConfig
from knowrl.data.sources import SourceError, source_version
from knowrl.data.stage import probe_sources
from tests.support.hub_server import LocalHubServer


def test_a_hub_source_is_probed_by_its_commit_sha_not_downloaded(monkeypatch: pytest.MonkeyPatch) -> None:
    with LocalHubServer() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        hub.state.dataset_shas["zjunlp/KnowRL-Train-Data@main"] = "a" * 40
        cfg = DataConfig(rl_source="zjunlp/KnowRL-Train-Data", rl_file="RL_data.jsonl", revision="main")
        first = probe_sources(cfg)
        assert first == f"zjunlp/KnowRL-Train-Data@{'a' * 40}:RL_data.jsonl"
        # One metadata call: no file download, no `datasets` load (the server logs every other call it gets).
        assert hub.state.dataset_info_calls == ["zjunlp/KnowRL-Train-Data@main"]
        assert not [call for call in hub.state.unexpected if "/datasets/" in call or "/resolve/" in call]

        hub.state.dataset_shas["zjunlp/KnowRL-Train-Data@main"] = "b" * 40  # a new commit on the branch
        assert probe_sources(cfg) != first  # is new data: the stage's cache key changes

        split = source_version("zjunlp/KnowRL-Train-Data", None, "main", split="train")
        assert split.endswith(":train")


def test_an_unknown_revision_names_the_source_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    with LocalHubServer() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        with pytest.raises(SourceError, match=r"'org/data' at revision v9.*HF_TOKEN") as info:
            source_version("org/data", "x.jsonl", "v9")
        assert not info.value.transient  # a missing revision does not appear by retrying


def test_a_local_source_is_probed_by_its_content(tmp_path: Path) -> None:
    data = tmp_path / "rl.jsonl"
    data.write_text('{"question": "q", "answers": "a", "title": "t"}\n')
    before = source_version(str(data), None, None)
    data.write_text('{"question": "q2", "answers": "a", "title": "t"}\n')
    assert source_version(str(data), None, None) != before
