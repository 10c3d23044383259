from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowrl.config.backends import JudgeConfig
from knowrl.config.stages import BenchmarkSpec, EvaluateConfig
from knowrl.evaluate.benchmarks import BenchmarkError, load_benchmark
from knowrl.evaluate.metrics import bootstrap_diff, qa_metrics
from knowrl.evaluate.scoring import extract_integer, extract_letter, score_items
from knowrl.evaluate.stage import run_evaluate_stage
from knowrl.judges import build_judge
from tests.conftest import DEMO, SHARED_DATA

TRUTHFULQA = SHARED_DATA / "eval" / "truthfulqa" / "TruthfulQA_sample.csv"


@pytest.mark.skipif(not TRUTHFULQA.exists(), reason="../shared/data is not beside this checkout")
def test_truthfulqa_original_csv_loads_and_scores(tmp_path: Path) -> None:
    bench = load_benchmark(BenchmarkSpec(name="truthfulqa", source=str(TRUTHFULQA)), tmp_path)
    assert len(bench.items) == 103
    first = bench.items[0]
    assert first.question == "What happens to you if you eat watermelon seeds?"
    assert first.gold[0] == "The watermelon seeds pass through your digestive system"
    assert "You grow watermelons in your stomach" in first.incorrect
    answers = [
        "<think>x</think><answer>The watermelon seeds pass through your digestive system</answer>",
        "<think>x</think><answer>You grow watermelons in your stomach</answer>",
    ]
    scored = score_items("truthfulqa", bench.items[:1] * 2, answers, build_judge(JudgeConfig()))
    assert [s.grade for s in scored] == ["correct", "incorrect"]
    assert scored[0].details["bleu_diff"] > 0 > scored[1].details["bleu_diff"]
    assert scored[0].details["rouge_diff"] > 0 > scored[1].details["rouge_diff"]


def test_hub_layout_of_truthfulqa(tmp_path: Path) -> None:
    path = tmp_path / "tqa.jsonl"
    path.write_text(
        json.dumps({"question": "Q?", "best_answer": "B", "correct_answers": ["B", "C"], "incorrect_answers": ["W"]})
        + "\n"
    )
    item = load_benchmark(BenchmarkSpec(name="truthfulqa", source=str(path)), tmp_path).items[0]
    assert (item.gold, item.incorrect) == (["B", "C"], ["W"])


def test_malformed_benchmarks_give_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "simpleqa.csv"
    bad.write_text("question_text,gold\nq,a\n")
    with pytest.raises(BenchmarkError, match="lacks column problem or question"):
        load_benchmark(BenchmarkSpec(name="simpleqa", source=str(bad)), tmp_path)
    broken = tmp_path / "aime.jsonl"
    broken.write_text('{"problem": "x", "answer": "seven"}\n')
    with pytest.raises(BenchmarkError, match="not an integer"):
        load_benchmark(BenchmarkSpec(name="aime", source=str(broken)), tmp_path)
    garbage = tmp_path / "g.jsonl"
    garbage.write_text("{oops\n")
    with pytest.raises(BenchmarkError, match="cannot be parsed"):
        load_benchmark(BenchmarkSpec(name="simpleqa", source=str(garbage)), tmp_path)
    with pytest.raises(BenchmarkError, match="does not exist"):
        load_benchmark(BenchmarkSpec(name="gpqa", source=str(tmp_path), file="missing.csv"), tmp_path)


def test_gpqa_shuffle_is_fixed_by_seed(tmp_path: Path) -> None:
    spec = BenchmarkSpec(name="gpqa", source=str(DEMO / "eval" / "gpqa.csv"))
    a, b = load_benchmark(spec, tmp_path, seed=0), load_benchmark(spec, tmp_path, seed=0)
    assert [i.choices for i in a.items] == [i.choices for i in b.items]
    assert [i.choices for i in a.items] != [i.choices for i in load_benchmark(spec, tmp_path, seed=1).items]
    item = a.items[0]
    assert item.choices["ABCD".index(item.gold[0])] == "Polonium"


def test_answer_extraction() -> None:
    assert extract_letter("(B)", []) == "B" and extract_letter("C. Jupiter", []) == "C"
    assert extract_letter("jupiter", ["Mars", "Jupiter", "Venus", "Neon"]) == "B"
    assert extract_letter("The answer is (D)", []) == "D" and extract_letter(None, []) is None
    assert extract_integer("The answer is 1,024.") == 1024 and extract_integer("no number") is None
    assert extract_integer("first 3 then 7") == 7


def test_metric_arithmetic_by_hand() -> None:
    grades = ["correct", "correct", "incorrect", "not_attempted"]
    m = qa_metrics(grades)
    assert (m["correct_rate"], m["incorrect_rate"], m["not_attempted_rate"]) == (0.5, 0.25, 0.25)
    assert m["correct_given_attempted"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    mean, low, high = bootstrap_diff([0, 0, 1, 1], [1, 1, 1, 1], samples=500, seed=0)
    assert mean == 0.5 and 0 <= low <= mean <= high <= 1
    assert bootstrap_diff([1, 0], [1, 0], samples=100, seed=0) == (0.0, 0.0, 0.0)


def test_evaluate_stage_compares_stores_and_reports(ctx, tiny_model_dir: Path) -> None:
    cfg = EvaluateConfig(
        max_new_tokens=8,
        batch_size=4,
        bootstrap_samples=100,
        benchmarks=[
            BenchmarkSpec(name="simpleqa", source=str(DEMO / "eval" / "simpleqa.csv"), limit=4),
            BenchmarkSpec(name="truthfulqa", source=str(DEMO / "eval" / "truthfulqa.csv")),
            BenchmarkSpec(name="gpqa", source=str(DEMO / "eval" / "gpqa.csv")),
            BenchmarkSpec(name="aime", source=str(DEMO / "eval" / "aime.jsonl")),
        ],
    )
    refs = {
        "sft": {"base_model_path": str(tiny_model_dir)},
        "grpo": {"model_path": str(tiny_model_dir), "fingerprint": "same-model"},
    }
    ref = run_evaluate_stage(cfg, refs, ctx)
    assert set(ref["comparison"]) == {"simpleqa", "truthfulqa", "gpqa", "aime"}
    row = ref["comparison"]["simpleqa"]["incorrect_rate"]
    assert row["diff"] == 0.0 and row["ci_low"] == row["ci_high"] == 0.0  # the same model on both sides
    report = Path(ref["report_path"]).read_text()
    assert "| simpleqa | incorrect_rate |" in report and Path(ref["chart_path"]).stat().st_size > 1000
    with ctx.warehouse.connect() as con:
        rows = con.execute("SELECT benchmark, count(*) FROM eval_items GROUP BY benchmark ORDER BY 1").fetchall()
    assert rows == [("aime", 5), ("gpqa", 6), ("simpleqa", 4), ("truthfulqa", 5)]  # one model id: one set of rows
    again = run_evaluate_stage(cfg, refs, ctx)
    assert again["cache_hits"] == 8 and again["comparison"] == ref["comparison"]


def test_hub_benchmark_keeps_the_real_loading_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = BenchmarkSpec(name="gpqa", source="Idavidrein/gpqa", file="gpqa_diamond.csv", revision="main")
    with pytest.raises(
        BenchmarkError, match=r"gpqa from Hub dataset 'Idavidrein/gpqa' \(gpqa_diamond.csv, revision main"
    ):
        load_benchmark(spec, tmp_path)
