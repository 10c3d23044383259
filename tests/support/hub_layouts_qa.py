"""The short-answer evaluation sets' Hub layouts (SimpleQA, Chinese SimpleQA, AIME 2025, SimpleQA Verified): see
tests/support/hub_layouts.py for what a layout is and where its facts come from."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.support.layout_files import csv_text, jsonl_text, write_files

SIMPLEQA_ROWS = [
    (
        "Science and technology",
        "Person",
        "Who received the Pellucid Prize for glass chemistry in 2011?",
        "Maren Odell",
    ),
    ("Geography", "Place", "In which town is the Vellhaven lighthouse museum?", "Kestrel Bay"),
    ("Music", "Date", "On what date was the album Low Tide Hymns released?", "4 March 1998"),
    ("Sports", "Number", "How many goals did Ivo Brandt score in the 1987 cup final?", "3"),
    ("Art", "Person", "Who painted The Salt Orchard?", "Lucie Varga"),
    ("History", "Date", "In what year was the Treaty of Morrow Fen signed?", "1722"),
]


def simpleqa(folder: Path) -> Path:
    """basicv8vc/SimpleQA: one CSV, `simple_qa_test_set.csv`, header `metadata,problem,answer`, `metadata` a Python
    dict literal "{'topic': ..., 'answer_type': ..., 'urls': [...]}"; the README has no `configs`, so `datasets`
    takes the split from the file name: `test`.

    Sources: the Hub page (files `.gitattributes`, `README.md` 506 B, `simple_qa_test_set.csv` 2.01 MB; card YAML
    `license: mit`, `task_categories: question-answering`, `language: en`, `pretty_name: d`, `size_categories:
    1K<n<10K`; "Formats: csv"); OpenAI simple-evals' `simple_qa_test_set.csv` (same header and metadata format, as
    quoted by projects reading it); 'basicv8vc/SimpleQA - default - test split' as named by its users."""
    rows = [
        {
            "metadata": repr({"topic": topic, "answer_type": kind, "urls": [f"https://example.org/simpleqa/{i}"]}),
            "problem": problem,
            "answer": answer,
        }
        for i, (topic, kind, problem, answer) in enumerate(SIMPLEQA_ROWS)
    ]
    readme = (
        "---\nlicense: mit\ntask_categories:\n- question-answering\nlanguage:\n- en\npretty_name: d\n"
        "size_categories:\n- 1K<n<10K\n---\n"
    )
    return write_files(
        folder, {"README.md": readme, "simple_qa_test_set.csv": csv_text(["metadata", "problem", "answer"], rows)}
    )


CHINESE_SIMPLEQA_ROWS = [
    ("中华文化", "中医", "虚构的青岚穴属于哪条经脉？", "足少阳胆经"),
    ("人文与社会科学", "历史", "虚构的白石盟约签订于哪一年？", "1603年"),
    ("自然与自然科学", "地理", "虚构的镜湖位于哪个省？", "云岭省"),
    ("生活、艺术与文化", "音乐", "虚构的歌曲《春潮》的作曲者是谁？", "林默"),
    ("工程、技术与应用科学", "计算机", "虚构的星河一号计算机首次运行于哪一年？", "1978年"),
    ("社会", "法律", "虚构的《海岸保护条例》自哪一年起施行？", "2009年"),
]


def chinese_simpleqa(folder: Path) -> Path:
    """OpenStellarTeam/Chinese-SimpleQA: `chinese_simpleqa.jsonl` (fields `id` (32-hex), `primary_category`,
    `secondary_category`, `question`, `answer`, `urls` (list)) and a `chinese_simpleqa.csv` copy; the README has no
    `configs`, so `datasets` reads the JSON (it prefers .jsonl over .csv on a tie) as split `train`.

    Sources: the Hub page (files `.gitattributes`, `README.md` 4.4 kB, `chinese_simpleqa.csv` 1.48 MB,
    `chinese_simpleqa.jsonl` 1.76 MB; "Formats: json"; license cc-by-nc-sa-4.0; the parquet export has one config
    `default` with split `train`); the record fields from the upstream GitHub data file as quoted by its users
    (`{"id": "97e7f58a...", "primary_category": "中华文化", "secondary_category": "中医", ..., "urls": [...]}`) and
    evalscope's sample; `load_dataset("OpenStellarTeam/Chinese-SimpleQA", split="train")` in its users' code. Not
    verified: the CSV's exact columns (written here like the JSON, `urls` as its JSON text) and the README's YAML
    (written as the page's tags say)."""
    rows = [
        {
            "id": hashlib.md5(question.encode()).hexdigest(),
            "primary_category": primary,
            "secondary_category": secondary,
            "question": question,
            "answer": answer,
            "urls": [f"https://example.org/csqa/{i}/a", f"https://example.org/csqa/{i}/b"],
        }
        for i, (primary, secondary, question, answer) in enumerate(CHINESE_SIMPLEQA_ROWS)
    ]
    header = ["id", "primary_category", "secondary_category", "question", "answer", "urls"]
    csv_rows = [{**row, "urls": json.dumps(row["urls"])} for row in rows]
    readme = (
        "---\nlicense: cc-by-nc-sa-4.0\ntask_categories:\n- question-answering\nlanguage:\n- zh\n"
        "size_categories:\n- 1K<n<10K\n---\n\n# Chinese SimpleQA\n"
    )
    return write_files(
        folder,
        {
            "README.md": readme,
            "chinese_simpleqa.jsonl": jsonl_text(rows),
            "chinese_simpleqa.csv": csv_text(header, csv_rows),
        },
    )


AIME_ROWS = {
    "I": [
        ("Find the remainder when $7^{2025}$ is divided by $1000$ (made-up problem).", "807"),
        ("How many ordered pairs $(a,b)$ of positive integers satisfy $a+b=30$? (made-up)", "29"),
        ("Let $n$ be the least integer with $n^2>2025$. Find $n$. (made-up)", "46"),
    ],
    "II": [
        ("Find the sum of the positive divisors of $28$ (made-up problem).", "56"),
        ("A made-up square has area $144$. Find its perimeter.", "48"),
        ("Find the number of subsets of a $5$-element set (made-up).", "32"),
    ],
}


def aime2025(folder: Path) -> Path:
    """opencompass/AIME2025: `aime2025-I.jsonl` and `aime2025-II.jsonl`, lines `{"question": ..., "answer": "70"}`
    (the integer answer as a string); the README declares configs AIME2025-I and AIME2025-II, each `data_files:
    [{split: test, path: aime2025-<I|II>.jsonl}]`.

    Sources: users pinning the repo (files `aime2025-I.jsonl`, `aime2025-II.jsonl`; fields question/answer;
    `load_dataset("opencompass/AIME2025", "AIME2025-I", split="test")`); a blog quoting a line of the raw file
    (`{"question": "Find the sum of all integer bases $b>9$ ...", "answer": "70"}`); the README YAML from a copy of the
    repo (bucket codebasic/AIME2025: `license: mit`, `task_categories: question-answering`, `language: en`,
    `size_categories: n<1K`, the `configs` above). Not verified: that opencompass's own card YAML is byte-identical."""
    readme = """---
license: mit
task_categories:
  - question-answering
language:
  - en
size_categories:
  - n<1K
configs:
  - config_name: AIME2025-I
    data_files:
      - split: test
        path: aime2025-I.jsonl
  - config_name: AIME2025-II
    data_files:
      - split: test
        path: aime2025-II.jsonl
---

# AIME 2025 Dataset
"""
    files: dict[str, str | bytes] = {"README.md": readme}
    for part, rows in AIME_ROWS.items():
        files[f"aime2025-{part}.jsonl"] = jsonl_text([{"question": q, "answer": a} for q, a in rows])
    return write_files(folder, files)


SIMPLEQA_VERIFIED_ROWS = [
    (12, "Who received the Pellucid Prize for glass chemistry in 2011?", "Maren Odell", "Science and technology",
     "Person", False, False),
    (57, "In which town is the Vellhaven lighthouse museum?", "Kestrel Bay", "Geography", "Place", False, False),
    (301, "How many seasons did the show Harbour Lights run?", "4", "TV shows", "Number", True, False),
    (944, "In what year did the Morrow Fen treaty take effect?", "1723", "History", "Date", True, True),
    (1780, "Which studio released the game Lantern Keep?", "Brightmoor Games", "Video games", "Other", False, True),
]  # fmt: skip


def simpleqa_verified(folder: Path) -> Path:
    """google/simpleqa-verified: `simpleqa_verified.csv` with columns original_index (int), problem, answer, topic,
    answer_type, multi_step (bool), requires_reasoning (bool), urls (string); the README declares one config,
    `simpleqa_verified` (default), split `eval`, path `simpleqa_verified.csv`.

    Sources: a copy of the repo's README.md found in the code corpus (the full YAML: license mit, tags, `configs:
    [{config_name: simpleqa_verified, default: true, data_files: [{split: eval, path: simpleqa_verified.csv}]}]`); a
    duplicate's commit listing (.gitattributes, README.md, simpleqa_verified.csv); the column names and dtypes from
    derived datasets' `dataset_info` and the benchmark page. Not verified: how `urls` separates several URLs (written
    here comma-separated in one string)."""
    readme = """---
license: mit
task_categories:
- question-answering
language:
- en
tags:
- factuality
- parametric
- memory
- pretraining
- posttraining
- benchmark
- simpleqa
- OpenAI
- Google DeepMind
- Google Research
pretty_name: SimpleQA Verified
size_categories:
- 1K<n<10K
configs:
- config_name: simpleqa_verified
  default: true
  data_files:
  - split: eval
    path: simpleqa_verified.csv
---
# SimpleQA Verified
"""
    header = [
        "original_index",
        "problem",
        "answer",
        "topic",
        "answer_type",
        "multi_step",
        "requires_reasoning",
        "urls",
    ]
    rows = [
        dict(zip(header, (*row, f"https://example.org/sqv/{row[0]},https://example.org/sqv/{row[0]}/2"), strict=True))
        for row in SIMPLEQA_VERIFIED_ROWS
    ]
    return write_files(folder, {"README.md": readme, "simpleqa_verified.csv": csv_text(header, rows)})
