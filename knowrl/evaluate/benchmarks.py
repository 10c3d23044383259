"""Benchmark loaders: TruthfulQA (original CSV and Hub layouts), SimpleQA, SimpleQA Verified, Chinese SimpleQA, GPQA,
AIME, and FActScore-style long-form prompts about named entities.

Each source is a local file (CSV, JSON, JSONL, Parquet) or a Hub dataset id (+ revision, file or split).
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from knowrl.data.sources import is_hub_id
from knowrl.errors import InputError, hub_failure_is_transient
from knowrl.evaluate.config import BenchmarkSpec
from knowrl.hashing import stable_hash

LETTERS = "ABCD"
NO_COMMENT = "I have no comment."  # a true reference of every TruthfulQA question, as in the set's own evaluation
GPQA_FINAL_LINE = "The correct answer is ({letter})"
GPQA_INSTRUCTION = (
    "Think it through, then end your reply with a last line of exactly this form: The correct answer is (X), "
    "where X is the letter of your choice."
)
AIME_INSTRUCTION = "Reason step by step, and put your final answer within \\boxed{}."
FACTSCORE_PROMPT = "Tell me a bio of {entity}."  # FActScore's prompt (Min et al. 2023)


class BenchmarkError(InputError):
    """A benchmark file is missing, unreadable, or lacks the columns its layout needs."""


@dataclass(frozen=True)
class EvalItem:
    item_id: str
    question: str  # the question as the benchmark states it
    gold: list[str]
    kind: str  # qa | truthfulqa | mc | integer | factscore
    incorrect: list[str] = field(default_factory=list)
    choices: list[str] = field(default_factory=list)
    prompt: str = ""  # what the model is asked: the question, its choices and instruction, the suffix
    titles: list[str] = field(default_factory=list)  # factscore: the knowledge store's pages the facts are checked in


@dataclass(frozen=True)
class Benchmark:
    name: str  # the kind (simpleqa, gpqa, ...)
    key: str  # the label in reports
    items: list[EvalItem]
    fingerprint: str
    configs: list[str] = field(default_factory=list)  # the Hub configurations read


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise BenchmarkError(f"benchmark file {path} does not exist")
    try:
        if path.suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as handle:
                return list(csv.DictReader(handle))
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist()
        text = path.read_text(encoding="utf-8")
        if text.lstrip().startswith("["):
            return json.loads(text)
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except (json.JSONDecodeError, csv.Error, UnicodeDecodeError) as exc:
        raise BenchmarkError(f"benchmark file {path} cannot be parsed: {exc}") from exc


def _hub_rows(spec: BenchmarkSpec, cache_dir: Path, config: str | None) -> list[dict[str, Any]]:
    try:
        if spec.file:
            from huggingface_hub import hf_hub_download

            local = hf_hub_download(
                spec.source,
                spec.file,
                repo_type="dataset",
                revision=spec.revision,
                cache_dir=str(cache_dir),
            )
            return _read_rows(Path(local))
        from datasets import load_dataset

        return list(
            load_dataset(spec.source, config, split=spec.split, revision=spec.revision, cache_dir=str(cache_dir))
        )
    except BenchmarkError:
        raise
    except Exception as exc:  # the Hub client raises many types; name the benchmark and the way out
        what = spec.file or (f"configuration {config}, " if config else "") + f"split {spec.split}"
        raise BenchmarkError(
            f"could not load benchmark {spec.name} from Hub dataset {spec.source!r} ({what}, "
            f"revision {spec.revision or 'main'}): {type(exc).__name__}: {exc}. "
            "Check `config`/`configs` and `split`, or point `source` at a local file instead.",
            transient=hub_failure_is_transient(exc),
        ) from exc


def _require(rows: list[dict[str, Any]], columns: list[list[str]], name: str, where: str) -> list[str]:
    """For each needed field, the first of its accepted column names present in the rows."""
    if not rows:
        raise BenchmarkError(f"benchmark {name} at {where} has no rows")
    present = set(rows[0])
    chosen = []
    for options in columns:
        found = next((c for c in options if c in present), None)
        if found is None:
            raise BenchmarkError(
                f"benchmark {name} at {where} lacks column {' or '.join(options)}; it has {sorted(present)}"
            )
        chosen.append(found)
    return chosen


def _split_answers(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value or "").split(";") if part.strip()]


def _item_id(name: str, question: str) -> str:
    return stable_hash(f"{name}:{question}")


def _truthfulqa(rows: list[dict[str, Any]], where: str) -> list[EvalItem]:
    q, best, correct, incorrect = _require(
        rows,
        [
            ["Question", "question"],
            ["Best Answer", "best_answer"],
            ["Correct Answers", "correct_answers"],
            ["Incorrect Answers", "incorrect_answers"],
        ],
        "truthfulqa",
        where,
    )
    items = []
    for row in rows:
        gold = list(dict.fromkeys([str(row[best]).strip(), *_split_answers(row[correct]), NO_COMMENT]))
        items.append(
            EvalItem(
                _item_id("truthfulqa", row[q]),
                str(row[q]),
                [g for g in gold if g],
                "truthfulqa",
                incorrect=_split_answers(row[incorrect]),
            )
        )
    return items


def _simpleqa(rows: list[dict[str, Any]], where: str, name: str) -> list[EvalItem]:
    q, a = _require(rows, [["problem", "question"], ["answer"]], name, where)
    return [EvalItem(_item_id(name, str(r[q])), str(r[q]), [str(r[a])], "qa") for r in rows]


def _factscore(rows: list[dict[str, Any]], where: str) -> list[EvalItem]:
    """One item per named entity: `entity` (or `topic`/`title`), an optional `prompt` (default FActScore's "Tell me a
    bio of <entity>."; an overview prompt for a non-person, e.g. "Give an overview of <entity>."), and optional
    `titles` (the store's pages to check the facts in, `;`-separated; default the entity's own page)."""
    (entity,) = _require(rows, [["entity", "topic", "title"]], "factscore", where)
    items = []
    for number, row in enumerate(rows, 1):
        name = str(row[entity] or "").strip()
        if not name:
            raise BenchmarkError(f"factscore at {where}: row {number} has no entity; every row names one")
        prompt = str(row.get("prompt") or "").strip() or FACTSCORE_PROMPT.format(entity=name)
        titles = _split_answers(row.get("titles")) or [name]
        items.append(EvalItem(_item_id("factscore", prompt), name, [], "factscore", prompt=prompt, titles=titles))
    return items


def _gpqa(rows: list[dict[str, Any]], where: str, seed: int) -> list[EvalItem]:
    q, c, w1, w2, w3 = _require(
        rows,
        [["Question"], ["Correct Answer"], ["Incorrect Answer 1"], ["Incorrect Answer 2"], ["Incorrect Answer 3"]],
        "gpqa",
        where,
    )
    items = []
    for row in rows:
        question = str(row[q]).strip()
        options = [str(row[c]).strip(), str(row[w1]).strip(), str(row[w2]).strip(), str(row[w3]).strip()]
        # A fixed shuffle per question: the same seed gives the same letters on every run.
        order = list(range(4))
        random.Random(f"{seed}:{question}").shuffle(order)
        choices = [options[i] for i in order]
        letter = LETTERS[order.index(0)]
        text = question + "\n" + "\n".join(f"({LETTERS[i]}) {choice}" for i, choice in enumerate(choices))
        text += "\n" + GPQA_INSTRUCTION
        items.append(EvalItem(_item_id("gpqa", question), question, [letter], "mc", choices=choices, prompt=text))
    return items


def _aime(rows: list[dict[str, Any]], where: str) -> list[EvalItem]:
    q, a = _require(rows, [["problem", "Problem", "question"], ["answer", "Answer"]], "aime", where)
    items = []
    for row in rows:
        try:
            value = int(str(row[a]).strip())
        except ValueError as exc:
            raise BenchmarkError(f"aime at {where}: answer {row[a]!r} is not an integer") from exc
        question = str(row[q])
        prompt = f"{question}\n{AIME_INSTRUCTION}"
        items.append(EvalItem(_item_id("aime", question), question, [str(value)], "integer", prompt=prompt))
    return items


def _rows(spec: BenchmarkSpec, cache_dir: Path, config: str | None) -> list[dict[str, Any]]:
    local = Path(spec.source).expanduser()
    if local.exists():
        return _read_rows(local / spec.file if local.is_dir() and spec.file else local)
    if is_hub_id(spec.source):
        return _hub_rows(spec, cache_dir, config)
    raise BenchmarkError(f"benchmark {spec.name} source {spec.source!r} is neither a local file nor a Hub dataset id")


def load_benchmark(spec: BenchmarkSpec, cache_dir: Path, seed: int = 0) -> Benchmark:
    """Every configuration of the benchmark (`config`, or each of `configs`), its first `limit` items each."""
    items: list[EvalItem] = []
    for config in spec.config_names:
        loaded = _items(spec, _rows(spec, cache_dir, config), seed)
        loaded = loaded[: spec.limit] if spec.limit else loaded
        if config and spec.configs:  # one id space per configuration: AIME2025-I's problem 1 is not -II's
            loaded = [replace(i, item_id=stable_hash(f"{config}:{i.item_id}")) for i in loaded]
        items.extend(loaded)
    items = [replace(i, prompt=(i.prompt or i.question) + spec.prompt_suffix) for i in items]
    digest = stable_hash([[i.item_id, i.prompt, i.gold, *([i.titles] if i.titles else [])] for i in items])
    return Benchmark(spec.name, spec.key, items, digest, configs=[c for c in spec.config_names if c])


def _items(spec: BenchmarkSpec, rows: list[dict[str, Any]], seed: int) -> list[EvalItem]:
    where = spec.source
    if spec.name == "truthfulqa":
        items = _truthfulqa(rows, where)
    elif spec.name in ("simpleqa", "simpleqa_verified", "chinese_simpleqa"):
        items = _simpleqa(rows, where, spec.name)  # SimpleQA Verified: SimpleQA's problem and answer columns
    elif spec.name == "factscore":
        items = _factscore(rows, where)
    elif spec.name == "gpqa":
        items = _gpqa(rows, where, seed)
    else:
        items = _aime(rows, where)
    return items
