from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowrl.data.config import DataConfig, DataRules
from knowrl.data.sources import SourceError
from knowrl.data.stage import assign_split, run_data_stage
from knowrl.errors import DataQualityError, InputError
from storage.datasets import DatasetTables
from tests.conftest import SHARED_DATA

RL_FILE = SHARED_DATA / "knowrl-train-data" / "knowrl_RLdata.json"
CS_FILE = SHARED_DATA / "knowrl-train-data" / "knowrl_coldstart.json"


@pytest.mark.skipif(not RL_FILE.exists(), reason="../shared/data is not beside this checkout")
def test_real_knowrl_files_load_with_zero_quarantined(ctx) -> None:
    ref = run_data_stage(DataConfig(rl_source=str(RL_FILE), coldstart_source=str(CS_FILE)), {}, ctx)
    assert (ref.rl.n_read, ref.rl.n_accepted, ref.rl.n_quarantined) == (3177, 3177, 0)
    assert (ref.coldstart.n_read, ref.coldstart.n_accepted, ref.coldstart.n_quarantined) == (
        1798,
        1798,
        0,
    )
    assert ref.rl.n_train + ref.rl.n_heldout == 3177 and ref.rl.n_heldout > 0
    rows = DatasetTables(ctx.warehouse).rl_rows(ref.rl.fingerprint, split=None)
    assert all(r["titles"] and r["answers"] for r in rows)


def _write_malformed(path: Path) -> None:
    lines = [
        json.dumps({"question": "Who wrote Hamlet?", "answers": "Shakespeare", "title": "Hamlet"}),
        "{not json",
        json.dumps({"answers": "x", "title": "T"}),
        json.dumps({"question": "Who painted the Mona Lisa?", "answers": "", "title": "Mona Lisa"}),
        json.dumps({"question": "What is two plus two?", "answers": 4, "title": "Arithmetic"}),
        json.dumps({"question": "who wrote  hamlet?", "answers": "Shakespeare", "title": "Hamlet"}),
        json.dumps(["a", "list"]),
        json.dumps({"question": "Where is the Eiffel Tower?", "answers": ["Paris"], "title": ["Eiffel Tower"]}),
    ]
    path.write_text("\n".join(lines) + "\n")


def test_malformed_rows_are_quarantined_with_reasons(ctx, tmp_path: Path) -> None:
    path = tmp_path / "rl.jsonl"
    _write_malformed(path)
    ref = run_data_stage(DataConfig(rl_source=str(path), min_accepted_share=0.2), {}, ctx)
    assert (ref.rl.n_read, ref.rl.n_accepted, ref.rl.n_quarantined) == (8, 2, 6)
    reasons = {q["source_row"]: q["reason"] for q in DatasetTables(ctx.warehouse).quarantine(ref.rl.load_id)}
    assert reasons[1].startswith("invalid JSON")
    assert reasons[2] == "missing field 'question'"
    assert reasons[3] == "empty field 'answers'"
    assert "string or a list of strings" in reasons[4]
    assert reasons[5] == "duplicate question (same as row 0)"
    assert "not an object" in reasons[6]


def test_same_source_twice_is_idempotent_and_new_revision_adds_a_version(ctx, tmp_path: Path) -> None:
    path = tmp_path / "rl.jsonl"
    _write_malformed(path)
    first = run_data_stage(DataConfig(rl_source=str(path), min_accepted_share=0.2), {}, ctx)
    again = run_data_stage(DataConfig(rl_source=str(path), min_accepted_share=0.2), {}, ctx)
    assert again.rl.fingerprint == first.rl.fingerprint and first.rl.is_new_version
    assert not again.rl.is_new_version
    tables = DatasetTables(ctx.warehouse)
    assert len(tables.rl_rows(first.rl.fingerprint, split=None)) == 2
    with path.open("a") as handle:
        handle.write(
            json.dumps({"question": "Who discovered penicillin?", "answers": "Fleming", "title": "Penicillin"}) + "\n"
        )
    newer = run_data_stage(DataConfig(rl_source=str(path), min_accepted_share=0.2), {}, ctx)
    assert newer.rl.is_new_version and newer.rl.fingerprint != first.rl.fingerprint
    assert len(tables.rl_rows(newer.rl.fingerprint, split=None)) == 3
    assert len(tables.rl_rows(first.rl.fingerprint, split=None)) == 2  # the old version is intact
    assert [h["is_new_version"] for h in tables.history()] == [True, False, True]


def test_parquet_and_directory_sources(ctx, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "ds"
    folder.mkdir()
    pq.write_table(
        pa.Table.from_pylist([{"question": "Who wrote Hamlet?", "answers": "Shakespeare", "title": "Hamlet"}]),
        folder / "part.parquet",
    )
    ref = run_data_stage(DataConfig(rl_source=str(folder)), {}, ctx)
    assert ref.rl.n_accepted == 1


def test_split_is_deterministic_by_seed() -> None:
    keys = [f"row{i}" for i in range(2000)]
    a = [assign_split(k, 0, 0.1) for k in keys]
    assert a == [assign_split(k, 0, 0.1) for k in keys]
    assert a != [assign_split(k, 1, 0.1) for k in keys]
    assert 0.07 < a.count("heldout") / len(a) < 0.13


def test_bad_sources_name_the_fix(ctx, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="neither an existing local path nor a Hub dataset id"):
        run_data_stage(DataConfig(rl_source="./missing.json"), {}, ctx)
    bad = tmp_path / "x.txt"
    bad.write_text("hello")
    with pytest.raises(SourceError, match="unsupported file type"):
        run_data_stage(DataConfig(rl_source=str(bad)), {}, ctx)


def test_hub_source_keeps_the_real_code_path(ctx, hub_offline: None) -> None:
    """Offline here: the Hub download is attempted with id, file and revision, and fails with a clear error."""
    cfg = DataConfig(rl_source="zjunlp/KnowRL-Train-Data", rl_file="knowrl_RLdata.json", revision="main")
    with pytest.raises(SourceError, match=r"knowrl_RLdata.json.*zjunlp/KnowRL-Train-Data.*revision main"):
        run_data_stage(cfg, {}, ctx)
    by_split = DataConfig(rl_source="zjunlp/KnowRL-Train-Data", revision="v2", split="train")
    with pytest.raises(SourceError, match=r"split 'train' of Hub dataset 'zjunlp/KnowRL-Train-Data' at revision v2"):
        run_data_stage(by_split, {}, ctx)


def test_alphanumeric_dedupe_key_catches_punctuation_variants(ctx, tmp_path: Path) -> None:
    path = tmp_path / "rl.jsonl"
    path.write_text(
        json.dumps({"question": "When was The Joker written?", "answers": "1973", "title": "The Joker"})
        + "\n"
        + json.dumps({"question": "When was 'The Joker' written?", "answers": "1973", "title": "The Joker"})
        + "\n"
    )
    assert run_data_stage(DataConfig(rl_source=str(path)), {}, ctx).rl.n_quarantined == 0
    cfg = DataConfig(rl_source=str(path), rules=DataRules(dedupe_key="alphanumeric"))
    assert run_data_stage(cfg, {}, ctx).rl.n_quarantined == 1


def _rl_rows(n_good: int, n_bad: int) -> str:
    good = [
        json.dumps({"question": f"Who wrote book number {i}?", "answers": f"Author {i}", "title": f"Book {i}"})
        for i in range(n_good)
    ]
    return "\n".join(good + [json.dumps({"answers": "x", "title": "T"})] * n_bad) + "\n"


def test_empty_file_fails_the_stage(ctx, tmp_path: Path) -> None:
    path = tmp_path / "rl.jsonl"
    path.write_text("")
    with pytest.raises(DataQualityError, match=rf"RL set {path} has no rows: point data.rl_source at"):
        run_data_stage(DataConfig(rl_source=str(path)), {}, ctx)


def test_all_rows_invalid_fails_naming_the_file_counts_and_reasons(ctx, tmp_path: Path) -> None:
    path = tmp_path / "rl.jsonl"
    path.write_text(_rl_rows(0, 3) + "{not json\n")
    with pytest.raises(DataQualityError) as caught:
        run_data_stage(DataConfig(rl_source=str(path)), {}, ctx)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message and "0 of 4 rows accepted" in message
    assert "missing field 'question' (3 rows); invalid JSON: Expecting property name" in message
    assert "relax data.rules" in message


def test_accepted_share_under_the_floor_fails(ctx, tmp_path: Path) -> None:
    path = tmp_path / "rl.jsonl"
    path.write_text(_rl_rows(2, 3))
    with pytest.raises(
        DataQualityError, match=r"2 of 5 rows accepted \(40%\).*min_accepted_share=0.5.*'question' \(3 rows\)"
    ):
        run_data_stage(DataConfig(rl_source=str(path)), {}, ctx)
    assert run_data_stage(DataConfig(rl_source=str(path), min_accepted_share=0.4), {}, ctx).rl.n_accepted == 2


def test_binary_jsonl_names_the_file_and_byte(ctx, tmp_path: Path) -> None:
    path = tmp_path / "rl.jsonl"
    path.write_bytes(b'{"question": "ok"}\n\x89PNG\r\n\x1a\n\x00\xff\xfe')
    with pytest.raises(InputError, match=rf"{path} is not UTF-8 text \(byte 19: .*point the recipe at a UTF-8"):
        run_data_stage(DataConfig(rl_source=str(path)), {}, ctx)


def test_truncated_json_array_names_the_line(ctx, tmp_path: Path) -> None:
    path = tmp_path / "rl.json"
    path.write_text(
        '[\n{"question": "Who wrote Hamlet?", "answers": "Shakespeare", "title": "Hamlet"},\n{"question": "Who'
    )
    with pytest.raises(InputError, match=rf"{path} is a JSON array that does not parse: .* at line 3, column \d+"):
        run_data_stage(DataConfig(rl_source=str(path)), {}, ctx)


def test_bad_parquet_names_the_file_and_the_fix(ctx, tmp_path: Path) -> None:
    path = tmp_path / "rl.parquet"
    path.write_text(_rl_rows(2, 0))
    with pytest.raises(InputError, match=rf"{path} is not a readable Parquet file \(ArrowInvalid: .*re-export it"):
        run_data_stage(DataConfig(rl_source=str(path)), {}, ctx)
