"""String tables: exact lookups from memory-mapped hashes, saved and reopened, and equal hashes handled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import knowrl.knowledge.string_table as string_table
from knowrl.knowledge.string_table import StringTable, hash_strings

WORDS = ["mount everest", "zebra", "", "Über café", "naïve", "東京", "a" * 300, "zebra crossing"]


def test_a_hash_does_not_depend_on_the_batch_it_is_computed_in() -> None:
    alone = [int(hash_strings([w])[0]) for w in WORDS]
    together = hash_strings(WORDS).tolist()
    assert alone == together
    assert len(set(together)) == len(WORDS)


def test_saved_and_reopened_table_finds_every_string_and_nothing_else(tmp_path: Path) -> None:
    StringTable.build(WORDS).save(tmp_path, "words")
    table = StringTable.open(tmp_path, "words")
    assert table is not None and len(table) == len(WORDS) and not table.collisions
    assert [table[i] for i in range(len(WORDS))] == WORDS
    assert table.strings(np.array([3, 0, 3])) == ["Über café", "mount everest", "Über café"]
    assert table.lookup([*WORDS, "zebr", "Zebra", "nowhere"]).tolist() == [*range(len(WORDS)), -1, -1, -1]
    assert table.lookup(["zebra", "nowhere"], verify=False).tolist() == [1, -1]
    assert "東京" in table and "東" not in table and table.index("naïve") == 4 and table.index("x") is None
    assert table.lookup([]).tolist() == []


def test_an_old_segment_without_tables_gives_none(tmp_path: Path) -> None:
    assert StringTable.open(tmp_path, "words") is None


def test_a_table_written_with_another_hash_is_refused(tmp_path: Path) -> None:
    StringTable.build(["a"]).save(tmp_path, "words")
    (tmp_path / "words.table.json").write_text('{"hash": "md5", "count": 1, "collisions": false}')
    with pytest.raises(ValueError, match="uses hash 'md5'"):
        StringTable.open(tmp_path, "words")


def test_strings_with_equal_hashes_are_told_apart(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A deliberately weak hash (the length): every lookup must then compare the stored strings.
    monkeypatch.setattr(string_table, "hash_strings", lambda values: np.array([len(v) for v in values], np.uint64))
    words = ["abc", "xyz", "pq", "abd"]
    StringTable.build(words).save(tmp_path, "words")
    table = StringTable.open(tmp_path, "words")
    assert table is not None and table.collisions
    assert table.lookup(["abd", "xyz", "abc", "pq", "zzz", "q"], verify=False).tolist() == [3, 1, 0, 2, -1, -1]
