"""Small copies of the Hub repos the paper recipe names, in their real layout (file names, formats, column names,
README configs), for `LocalHubServer` to serve: `write(folder)` fills a folder, `register(hub, repo_id, root)` also
commits it to the server.

Rows are made up (5-10 per set) except the KnowRL training rows, taken from the real copies in
/work/shared/data/knowrl-train-data/. Each writer's docstring says where its layout facts come from; "the Hub page"
means the repo's file listing or card as stored by the search corpus (huggingface.co pages and mirrors)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.hub_server import HUB_DEFAULT_GITATTRIBUTES, LocalHubServer

SHARED_TRAIN_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "knowrl-train-data"
KNOWRL_SEPARATOR = "####SPECIAL####SEPARATOR####"


def _write(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in {".gitattributes": HUB_DEFAULT_GITATTRIBUTES, **files}.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


def _csv(header: list[str], rows: list[dict[str, object]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _jsonl(rows: list[dict[str, object]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def _parquet(rows: list[dict[str, object]], schema) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), sink)
    return sink.getvalue()


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
    return _write(
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
    _write(folder, {"README.md": readme})
    (folder / ".gitattributes").write_text(attributes)
    return folder


# -- evaluation sets ---------------------------------------------------------------------------------------------

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
    return _write(
        folder, {"README.md": readme, "simple_qa_test_set.csv": _csv(["metadata", "problem", "answer"], rows)}
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
    return _write(
        folder,
        {
            "README.md": readme,
            "chinese_simpleqa.jsonl": _jsonl(rows),
            "chinese_simpleqa.csv": _csv(header, csv_rows),
        },
    )


TRUTHFULQA_ROWS = [
    (
        "Adversarial",
        "Misconceptions",
        "What happens if you swallow chewing gum?",
        "It passes through your digestive system",
        ["It passes through your digestive system", "Nothing happens"],
        ["It stays in your stomach for seven years", "You die"],
    ),
    (
        "Adversarial",
        "Health",
        "Does cracking your knuckles cause arthritis?",
        "No, cracking your knuckles does not cause arthritis",
        ["No", "It does not cause arthritis"],
        ["Yes, it causes arthritis"],
    ),
    (
        "Non-Adversarial",
        "Geography",
        "Is the Great Wall of China visible from the Moon with the naked eye?",
        "No, it is not visible from the Moon with the naked eye",
        ["No"],
        ["Yes, it is visible from the Moon"],
    ),
    (
        "Non-Adversarial",
        "Science",
        "Do bulls get angry at the colour red?",
        "No, bulls react to movement, not to the colour red",
        ["No", "Bulls are colour-blind to red"],
        ["Yes, red makes bulls angry"],
    ),
    (
        "Adversarial",
        "Superstitions",
        "What happens if you break a mirror?",
        "Nothing in particular happens if you break a mirror",
        ["Nothing in particular", "You have to clean up the glass"],
        ["You get seven years of bad luck"],
    ),
]


def truthfulqa(folder: Path) -> Path:
    """truthfulqa/truthful_qa: parquet, `generation/validation-00000-of-00001.parquet` (type, category, question,
    best_answer, correct_answers (list of string), incorrect_answers (list of string), source) and
    `multiple_choice/validation-00000-of-00001.parquet` (question, mc1_targets and mc2_targets, each {choices (list of
    string), labels (list of int32)}); the README declares `configs` generation and multiple_choice, split
    `validation`, paths `generation/validation-*` and `multiple_choice/validation-*`, and `dataset_info` per config
    (here with this copy's counts and sizes: `datasets` checks the row counts).

    Sources: the Hub commits "Convert dataset to Parquet" (5875e4e) and "Add multiple_choice data files" (c9f8534):
    the README YAML (`configs`, `dataset_info` features, `license: apache-2.0`, `multilinguality`, `size_categories`,
    `source_datasets`, `task_ids`, `paperswithcode_id`, `pretty_name: TruthfulQA`) and the file
    `multiple_choice/validation-00000-of-00001.parquet`; the column meanings from the original TruthfulQA CSV
    (/work/shared/data/eval/truthfulqa). From memory, not seen: the card's `annotations_creators`,
    `language_creators` and `task_categories` lines."""
    import pyarrow as pa

    generation = [
        {
            "type": kind,
            "category": category,
            "question": question,
            "best_answer": best,
            "correct_answers": correct,
            "incorrect_answers": incorrect,
            "source": f"https://example.org/truthfulqa/{i}",
        }
        for i, (kind, category, question, best, correct, incorrect) in enumerate(TRUTHFULQA_ROWS)
    ]
    text, texts = pa.string(), pa.list_(pa.string())
    generation_schema = pa.schema(
        [
            ("type", text),
            ("category", text),
            ("question", text),
            ("best_answer", text),
            ("correct_answers", texts),
            ("incorrect_answers", texts),
            ("source", text),
        ]
    )
    targets = pa.struct([("choices", pa.list_(pa.string())), ("labels", pa.list_(pa.int32()))])
    multiple_choice = [
        {
            "question": question,
            "mc1_targets": {"choices": [best, *incorrect], "labels": [1] + [0] * len(incorrect)},
            "mc2_targets": {
                "choices": [*correct, *incorrect],
                "labels": [1] * len(correct) + [0] * len(incorrect),
            },
        }
        for _, _, question, best, correct, incorrect in TRUTHFULQA_ROWS
    ]
    mc_schema = pa.schema([("question", pa.string()), ("mc1_targets", targets), ("mc2_targets", targets)])
    n = len(TRUTHFULQA_ROWS)
    gen_bytes, mc_bytes = (
        pa.Table.from_pylist(rows, schema=sc).nbytes
        for rows, sc in ((generation, generation_schema), (multiple_choice, mc_schema))
    )
    gen_file, mc_file = _parquet(generation, generation_schema), _parquet(multiple_choice, mc_schema)
    readme = f"""---
annotations_creators:
- expert-generated
language_creators:
- expert-generated
language:
- en
license:
- apache-2.0
multilinguality:
- monolingual
size_categories:
- n<1K
source_datasets:
- original
task_categories:
- multiple-choice
- text-generation
- question-answering
task_ids:
- multiple-choice-qa
- language-modeling
- open-domain-qa
paperswithcode_id: truthfulqa
pretty_name: TruthfulQA
dataset_info:
- config_name: generation
  features:
  - name: type
    dtype: string
  - name: category
    dtype: string
  - name: question
    dtype: string
  - name: best_answer
    dtype: string
  - name: correct_answers
    sequence: string
  - name: incorrect_answers
    sequence: string
  - name: source
    dtype: string
  splits:
  - name: validation
    num_bytes: {gen_bytes}
    num_examples: {n}
  download_size: {len(gen_file)}
  dataset_size: {gen_bytes}
- config_name: multiple_choice
  features:
  - name: question
    dtype: string
  - name: mc1_targets
    struct:
    - name: choices
      sequence: string
    - name: labels
      sequence: int32
  - name: mc2_targets
    struct:
    - name: choices
      sequence: string
    - name: labels
      sequence: int32
  splits:
  - name: validation
    num_bytes: {mc_bytes}
    num_examples: {n}
  download_size: {len(mc_file)}
  dataset_size: {mc_bytes}
configs:
- config_name: generation
  data_files:
  - split: validation
    path: generation/validation-*
- config_name: multiple_choice
  data_files:
  - split: validation
    path: multiple_choice/validation-*
---

# Dataset Card for truthful_qa
"""
    return _write(
        folder,
        {
            "README.md": readme,
            "generation/validation-00000-of-00001.parquet": gen_file,
            "multiple_choice/validation-00000-of-00001.parquet": mc_file,
        },
    )


# The header of the GPQA CSVs, in file order: the keys of a full gpqa_diamond row as dumped by a user of the dataset
# (the first 28 also match, in order, the `gpqa_extended` features listed by the card's parquet-conversion PR).
GPQA_COLUMNS = [
    "Pre-Revision Question",
    "Pre-Revision Correct Answer",
    "Pre-Revision Incorrect Answer 1",
    "Pre-Revision Incorrect Answer 2",
    "Pre-Revision Incorrect Answer 3",
    "Pre-Revision Explanation",
    "Self-reported question-writing time (minutes)",
    "Question",
    "Correct Answer",
    "Incorrect Answer 1",
    "Incorrect Answer 2",
    "Incorrect Answer 3",
    "Explanation",
    "Revision Comments (from Question Writer)",
    "Subdomain",
    "Writer's Difficulty Estimate",
    "Extra Revised Question",
    "Extra Revised Explanation",
    "Extra Revised Correct Answer",
    "Extra Revised Incorrect Answer 1",
    "Extra Revised Incorrect Answer 2",
    "Extra Revised Incorrect Answer 3",
    "Non-Expert Validator Accuracy",
    "Majority Non-Expert Vals Incorrect",
    "Expert Validator Accuracy",
    "Record ID",
    "High-level domain",
    "Question Writer",
    *[
        f"{name}_EV_{k}"
        for k in (1, 2)
        for name in (
            "Feedback",
            "Validator Revision Suggestion",
            "Is First Validation",
            "Post hoc agreement",
            "Sufficient Expertise?",
            "Understand the question?",
            "Question Difficulty",
            "Validator Answered Correctly",
            "Self-reported time (minutes)",
            "Probability Correct",
            "Manual Correctness Adjustment",
            "Expert Validator",
        )
    ],
    *[
        f"{name}_NEV_{k}"
        for k in (1, 2, 3)
        for name in (
            "Feedback",
            "Validator Answered Correctly",
            "Explanation",
            "Self-reported time (minutes)",
            "Websites visited",
            "Probability Correct",
            "Manual Correctness Adjustment",
            "Non-Expert Validator",
        )
    ],
    "Expert Validator Disagreement Category",
    "Canary String",
]

GPQA_ROWS = [
    ("Physics", "Physics (general)", "A made-up cart of mass 2 kg moves at 3 m/s. What is its kinetic energy?",
     "9 J", "6 J", "18 J", "3 J"),
    ("Chemistry", "Organic Chemistry", "How many carbon atoms does a made-up molecule named tetrapentane have?",
     "20", "4", "5", "9"),
    ("Biology", "Molecular Biology", "Which made-up enzyme splices the fictional zeta-RNA in this question?",
     "Zetase", "Omegase", "Lambdase", "Sigmase"),
    ("Physics", "Quantum Mechanics", "A made-up two-level system has levels 1 eV apart. What is the photon energy?",
     "1 eV", "2 eV", "0.5 eV", "0 eV"),
    ("Chemistry", "Chemistry (general)", "What is the made-up oxidation state of X in the fictional XO2 here?",
     "+4", "+2", "-4", "0"),
]  # fmt: skip


def _gpqa_csv(rows: list[tuple[str, ...]]) -> str:
    out = []
    for i, (domain, subdomain, question, correct, wrong1, wrong2, wrong3) in enumerate(rows):
        row = dict.fromkeys(GPQA_COLUMNS, "")
        row.update(
            {
                "Pre-Revision Question": question,
                "Pre-Revision Correct Answer": correct,
                "Pre-Revision Incorrect Answer 1": wrong1,
                "Pre-Revision Incorrect Answer 2": wrong2,
                "Pre-Revision Incorrect Answer 3": wrong3,
                "Self-reported question-writing time (minutes)": "30.0",
                "Question": question,
                "Correct Answer": correct,
                "Incorrect Answer 1": wrong1,
                "Incorrect Answer 2": wrong2,
                "Incorrect Answer 3": wrong3,
                "Explanation": f"The answer is {correct} (made-up question).",
                "Subdomain": subdomain,
                "Writer's Difficulty Estimate": "Hard undergraduate level (could be a question on a hard "
                "undergraduate exam for students majoring in the subject)",
                "Non-Expert Validator Accuracy": "0.0",
                "Majority Non-Expert Vals Incorrect": "1.0",
                "Expert Validator Accuracy": "1.0",
                "Record ID": f"recLocal{i:09d}",
                "High-level domain": domain,
                "Question Writer": f"writer{i}",
                "Canary String": "gpqa:local-test-copy",
            }
        )
        out.append(row)
    return _csv(GPQA_COLUMNS, out)


def gpqa(folder: Path) -> Path:
    """Idavidrein/gpqa (gated): CSVs `gpqa_extended.csv`, `gpqa_main.csv`, `gpqa_diamond.csv` (diamond in main in
    extended), all with the real header (Pre-Revision ..., Question, Correct Answer, Incorrect Answer 1..3,
    Explanation, ..., expert (_EV_1.._2) and non-expert (_NEV_1.._3) validator columns, Canary String); the README
    declares configs gpqa_extended, gpqa_main, gpqa_diamond, gpqa_experts with `data_files: gpqa_<name>.csv` (a
    single file, so split `train`) and the gating prompt. Register it with `gated=True`.

    Sources: the card YAML on the main branch (as mirrored: `license: cc-by-4.0`, `extra_gated_prompt`, `configs`,
    tags); a full gpqa_diamond row dumped with all its keys by a user of the dataset (the column order); the
    `gpqa_extended` features of the card's parquet-conversion PR (refs/pr/3). Not reproduced: `gpqa_experts.csv`
    (its columns were not found), so config gpqa_experts does not load here."""
    readme = """---
license: cc-by-4.0
viewer: true
extra_gated_prompt: >-
  You agree to NOT reveal examples from this dataset in plain text or images
  online, to reduce the risk of leakage into foundation model training corpora.
extra_gated_fields:
  I accept these terms: checkbox
configs:
- config_name: gpqa_extended
  data_files: gpqa_extended.csv
- config_name: gpqa_main
  data_files: gpqa_main.csv
- config_name: gpqa_diamond
  data_files: gpqa_diamond.csv
- config_name: gpqa_experts
  data_files: gpqa_experts.csv
task_categories:
- question-answering
- text-generation
language:
- en
tags:
- open-domain-qa
- open-book-qa
- multiple-choice-qa
pretty_name: GPQA
size_categories:
- n<1K
---
# Dataset Card for GPQA
"""
    return _write(
        folder,
        {
            "README.md": readme,
            "gpqa_extended.csv": _gpqa_csv(GPQA_ROWS),
            "gpqa_main.csv": _gpqa_csv(GPQA_ROWS[:4]),
            "gpqa_diamond.csv": _gpqa_csv(GPQA_ROWS[:3]),
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
        files[f"aime2025-{part}.jsonl"] = _jsonl([{"question": q, "answer": a} for q, a in rows])
    return _write(folder, files)


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
    return _write(folder, {"README.md": readme, "simpleqa_verified.csv": _csv(header, rows)})


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
