"""A persisted string -> number map that opens without parsing anything: the knowledge store's title keys, page
titles and BM25 vocabulary.

Why: a store over Wikipedia has millions of titles and tokens. Loading them as a Python dict from JSON costs
seconds per segment (tens of milliseconds at a million passages), and a GRPO process opens the store on every
start and every retry. Here the strings are one UTF-8 blob with offsets, and a sorted array of their 64-bit
hashes; all of it is memory-mapped. A lookup hashes the wanted strings together (numpy, no Python loop over
characters) and binary-searches the sorted hashes.

`lookup(..., verify=True)` also compares the stored string, so a hit is exact. Unverified lookups (the BM25
query tokens, thousands per step) can only err when a token that is NOT in the table has the 64-bit hash of one
that is: about n / 2^64 per token (5e-13 for a 10-million-word vocabulary), and such a token then adds one
unrelated term weight to one query's scores. Equal hashes among the stored strings themselves are found when the
table is built, and their lookups are always verified.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HASH = "fnv1a64-codepoints"
_OFFSET = np.uint64(0xCBF29CE484222325)
_PRIME = np.uint64(0x100000001B3)
_CHUNK = 1 << 16  # strings hashed per numpy pass: bounds the fixed-width array numpy builds for them


def hash_strings(strings: list[str]) -> np.ndarray:
    """FNV-1a over each string's code points, as uint64. NUL code points are skipped, which makes the hash
    independent of the width numpy pads a batch to (the strings we hash never contain NUL)."""
    out = np.empty(len(strings), dtype=np.uint64)
    # Array arithmetic on uint64 wraps around silently, as FNV wants (no np.errstate: it costs more than a hash).
    for start in range(0, len(strings), _CHUNK):
        chunk = np.array(strings[start : start + _CHUNK], dtype=str)
        codes = chunk.view(np.uint32).reshape(len(chunk), -1).astype(np.uint64)
        hashes = np.full(len(chunk), _OFFSET, dtype=np.uint64)
        for column in codes.T:
            hashes = np.where(column != 0, (hashes ^ column) * _PRIME, hashes)
        out[start : start + len(chunk)] = hashes
    return out


@dataclass
class StringTable:
    blob: np.ndarray  # uint8: the strings' UTF-8, back to back, in number order
    offsets: np.ndarray  # int64, len n + 1: string i is blob[offsets[i]:offsets[i + 1]]
    hashes: np.ndarray  # uint64, sorted
    numbers: np.ndarray  # int64: the number of the string whose hash is hashes[j]
    collisions: bool  # two stored strings share a hash: verify every lookup

    def __post_init__(self) -> None:
        self._view = memoryview(np.asarray(self.blob))  # slicing a memoryview is cheaper than a memmap slice

    @classmethod
    def build(cls, strings: list[str]) -> StringTable:
        """A table in memory; string i gets number i."""
        encoded = [s.encode() for s in strings]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        hashes = hash_strings(strings)
        numbers = np.argsort(hashes, kind="stable").astype(np.int64)
        hashes = hashes[numbers]
        collisions = bool(len(hashes) > 1 and np.any(hashes[1:] == hashes[:-1]))
        return cls(blob, offsets, hashes, numbers, collisions)

    def save(self, directory: Path, name: str) -> None:
        (directory / f"{name}.bin").write_bytes(self.blob.tobytes())
        np.save(directory / f"{name}.offsets.npy", self.offsets)
        np.save(directory / f"{name}.hashes.npy", self.hashes)
        np.save(directory / f"{name}.numbers.npy", self.numbers)
        meta = {"hash": HASH, "count": len(self), "collisions": self.collisions}
        (directory / f"{name}.table.json").write_text(json.dumps(meta))

    @classmethod
    def open(cls, directory: Path, name: str) -> StringTable | None:
        """The saved table, memory-mapped; None when the segment predates string tables (JSON files instead)."""
        meta_path = directory / f"{name}.table.json"
        if not meta_path.exists():
            return None
        meta = json.loads(meta_path.read_text())
        if meta.get("hash") != HASH:
            raise ValueError(f"{meta_path} uses hash {meta.get('hash')!r}, this version reads {HASH!r}")
        blob_path = directory / f"{name}.bin"
        # np.memmap refuses an empty file (a table of empty strings only).
        blob = np.memmap(blob_path, dtype=np.uint8, mode="r") if blob_path.stat().st_size else np.empty(0, np.uint8)
        return cls(
            blob,
            np.load(directory / f"{name}.offsets.npy", mmap_mode="r"),
            np.load(directory / f"{name}.hashes.npy", mmap_mode="r"),
            np.load(directory / f"{name}.numbers.npy", mmap_mode="r"),
            bool(meta["collisions"]),
        )

    def __len__(self) -> int:
        return int(self.offsets.shape[0] - 1)

    def __getitem__(self, number: int) -> str:
        return str(self._view[int(self.offsets[number]) : int(self.offsets[number + 1])], "utf-8")

    def strings(self, numbers: np.ndarray) -> list[str]:
        """The strings with these numbers."""
        numbers = np.asarray(numbers, dtype=np.int64)
        starts, ends = np.asarray(self.offsets[numbers]).tolist(), np.asarray(self.offsets[numbers + 1]).tolist()
        view = self._view
        return [str(view[start:end], "utf-8") for start, end in zip(starts, ends, strict=True)]

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and self.index(value) is not None

    def index(self, value: str) -> int | None:
        found = int(self.lookup([value])[0])
        return None if found < 0 else found

    def lookup(self, values: list[str], verify: bool = True) -> np.ndarray:
        """The number of each value, -1 where it is not in the table (see the module docstring on `verify`)."""
        if not values or not len(self):
            return np.full(len(values), -1, dtype=np.int64)
        wanted = hash_strings(values)
        left = np.searchsorted(self.hashes, wanted, side="left")
        hit = np.zeros(len(values), dtype=bool)
        inside = left < len(self)
        hit[inside] = np.asarray(self.hashes[left[inside]]) == wanted[inside]
        out = np.full(len(values), -1, dtype=np.int64)
        out[hit] = np.asarray(self.numbers[left[hit]])
        if verify or self.collisions:
            for i in np.flatnonzero(hit).tolist():
                out[i] = self._verified(values[i], int(left[i]), wanted[i])
        return out

    def _verified(self, value: str, position: int, wanted: np.uint64) -> int:
        """The number of `value` among the stored strings with its hash (a run starting at `position`), or -1."""
        while position < len(self) and self.hashes[position] == wanted:
            number = int(self.numbers[position])
            if self[number] == value:
                return number
            position += 1
        return -1
