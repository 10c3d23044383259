from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from knowrl.config.backends import JudgeConfig
from knowrl.evaluate.benchmarks import NO_COMMENT, BenchmarkError, EvalItem, load_benchmark
from knowrl.evaluate.config import BenchmarkSpec, EvaluateConfig
from knowrl.evaluate.metrics import benchmark_metrics, bootstrap_diff, grade_moves, qa_metrics, refused_share
from knowrl.evaluate.scoring import boxed_content, extract_integer, extract_letter, score_items
from knowrl.evaluate.stage import run_evaluate_stage
from knowrl.judges import CallStats, build_judge
from knowrl.judges.base import Grade
from knowrl.publish.gate import GateConfigError, check_gate
from knowrl.train.result import SFTRef
from tests.conftest import DEMO, SHARED_DATA
from tests.support import hub_clients
from tests.support.hub_layouts import register
from tests.support.refs import made_up_ref

TRUTHFULQA = SHARED_DATA / "eval" / "truthfulqa" / "TruthfulQA_sample.csv"


@pytest.mark.skipif(not TRUTHFULQA.exists(), reason="../shared/data is not beside this checkout")
def test_truthfulqa_original_csv_loads_and_scores_by_bleu_and_rouge(tmp_path: Path) -> None:
    bench = load_benchmark(BenchmarkSpec(name="truthfulqa", source=str(TRUTHFULQA)), tmp_path)
    assert len(bench.items) == 103
    first = bench.items[0]
    assert first.question == "What happens to you if you eat watermelon seeds?"
    assert first.gold[0] == "The watermelon seeds pass through your digestive system"
    assert first.gold[-1] == NO_COMMENT  # a true reference of every question, as in the set's own evaluation
    assert "You grow watermelons in your stomach" in first.incorrect
    answers = [
        "<think>x</think><answer>The watermelon seeds pass through your digestive system</answer>",
        "<think>x</think><answer>You grow watermelons in your stomach</answer>",
        "I have no comment.",  # a base model's untagged output is graded on its whole text
    ]
    scored = score_items(bench.items[:1] * 3, answers, build_judge(JudgeConfig()))
    for metric in ("bleu", "rouge1", "rouge2", "rougeL"):
        assert scored[0].details[f"{metric}_diff"] > 0 > scored[1].details[f"{metric}_diff"]
        assert scored[0].details[f"{metric}_acc"] == 1.0 and scored[1].details[f"{metric}_acc"] == 0.0
    assert scored[2].details["bleu_acc"] == 1.0 and scored[2].details["bleu_max"] == pytest.approx(100.0)
    metrics = benchmark_metrics("truthfulqa", [vars(s) for s in scored])
    assert metrics["bleu_acc"] == pytest.approx(2 / 3) and metrics["format_rate"] == pytest.approx(2 / 3)


def test_hub_layout_of_truthfulqa(tmp_path: Path) -> None:
    path = tmp_path / "tqa.jsonl"
    path.write_text(
        json.dumps({"question": "Q?", "best_answer": "B", "correct_answers": ["B", "C"], "incorrect_answers": ["W"]})
        + "\n"
    )
    item = load_benchmark(BenchmarkSpec(name="truthfulqa", source=str(path)), tmp_path).items[0]
    assert (item.gold, item.incorrect) == (["B", "C", NO_COMMENT], ["W"])


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


def test_gpqa_shuffle_is_fixed_by_seed_and_asks_for_the_final_line(tmp_path: Path) -> None:
    spec = BenchmarkSpec(name="gpqa", source=str(DEMO / "eval" / "gpqa.csv"))
    a, b = load_benchmark(spec, tmp_path, seed=0), load_benchmark(spec, tmp_path, seed=0)
    assert [i.choices for i in a.items] == [i.choices for i in b.items]
    assert [i.choices for i in a.items] != [i.choices for i in load_benchmark(spec, tmp_path, seed=1).items]
    item = a.items[0]
    assert item.choices["ABCD".index(item.gold[0])] == "Polonium"
    assert "The correct answer is (X)" in item.prompt and "(A) " in item.prompt


def test_gpqa_letter_comes_from_the_predefined_line_only() -> None:
    assert extract_letter("Reasoning...\nThe correct answer is (B)") == "B"
    assert extract_letter("The correct answer is (A). On reflection, the correct answer is C.") == "C"
    assert extract_letter("A is a noble gas, so the answer must be something else.") is None
    assert extract_letter("C. Jupiter") is None and extract_letter(None) is None


def test_aime_answer_from_boxed_or_tag() -> None:
    assert boxed_content(r"so \boxed{\frac{1}{2}} and finally \boxed{33}") == "33"
    assert boxed_content(r"\boxed{33 (12+21)}") == "33 (12+21)" and boxed_content("no box") is None
    assert extract_integer("33 (12+21)") == 33 and extract_integer("1,024") == 1024
    assert extract_integer("no number") is None
    item = EvalItem("i", "What is 12+21?", ["33"], "integer", prompt="What is 12+21?")
    outputs = [
        r"x</think> The sum is \boxed{33 (12+21)}.",  # boxed: its first integer
        "<think>12+21</think><answer>33</answer>",  # the answer tag
        "x</think> 12 plus 21 is 33",  # neither: no answer extracted
        r"\boxed{34}",
    ]
    grades = [s.grade for s in score_items([item] * 4, outputs, build_judge(JudgeConfig()))]
    assert grades == ["correct", "correct", "not_attempted", "incorrect"]


class ScriptedJudge:
    """A judge whose grades are given (None: an unreadable reply)."""

    def __init__(self, grades: list[Grade | None]) -> None:
        self.grades, self.stats, self.asked = grades, CallStats(), []

    def grade_many(self, items):
        self.asked.extend(items)
        return self.grades[: len(items)]


def test_untagged_outputs_are_graded_on_their_final_answer() -> None:
    item = EvalItem("i", "Capital of France?", ["Paris"], "qa", prompt="Capital of France?")
    outputs = [
        "<think>It is Paris.</think><answer>Paris</answer>",
        "Hmm, the capital...</think>\n\nParis",  # a base model: no tags, answer after its reasoning
        "Paris, of course.",  # no reasoning markers at all: the whole output
        "</think>",  # reasoning only: no final answer
    ]
    judge = ScriptedJudge([Grade.CORRECT, Grade.CORRECT, Grade.CORRECT])
    scored = score_items([item] * 4, outputs, judge)
    assert [j.answer for j in judge.asked] == ["Paris", "Paris", "Paris, of course."]
    assert [s.grade for s in scored] == ["correct", "correct", "correct", "not_attempted"]
    assert [s.followed_format for s in scored] == [True, False, False, False]
    assert benchmark_metrics("qa", [vars(s) for s in scored])["format_rate"] == 0.25


def test_unparseable_grades_count_as_not_attempted_and_are_reported() -> None:
    item = EvalItem("i", "Capital of France?", ["Paris"], "qa", prompt="Capital of France?")
    scored = score_items([item] * 3, ["Paris", "Lyon", "Rome"], ScriptedJudge([Grade.CORRECT, None, Grade.INCORRECT]))
    assert [s.grade for s in scored] == ["correct", "not_attempted", "incorrect"]
    metrics = benchmark_metrics("qa", [vars(s) for s in scored])
    assert metrics["unparseable_grades"] == 1 and metrics["not_attempted_rate"] == pytest.approx(1 / 3)


def test_prompt_suffix_reaches_the_prompt_only(tmp_path: Path) -> None:
    spec = BenchmarkSpec(
        name="simpleqa", source=str(DEMO / "eval" / "unknown.csv"), prompt_suffix=" Let's think step by step"
    )
    item = load_benchmark(spec, tmp_path).items[0]
    assert item.prompt == item.question + " Let's think step by step"


def test_metric_arithmetic_by_hand() -> None:
    grades = ["correct", "correct", "incorrect", "not_attempted"]
    m = qa_metrics(grades)
    assert (m["correct_rate"], m["incorrect_rate"], m["not_attempted_rate"]) == (0.5, 0.25, 0.25)
    assert m["correct_given_attempted"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    mean, low, high = bootstrap_diff([0, 0, 1, 1], [1, 1, 1, 1], samples=500, seed=0)
    assert mean == 0.5 and 0 <= low <= mean <= high <= 1
    assert bootstrap_diff([1, 0], [1, 0], samples=100, seed=0) == (0.0, 0.0, 0.0)


def test_grade_moves_pair_answers_by_item_and_sample() -> None:
    sft = [
        {"item_id": "a", "grade": "correct"},
        {"item_id": "b", "grade": "incorrect"},
        {"item_id": "c#0", "grade": "correct"},
        {"item_id": "c#1", "grade": "incorrect"},
        {"item_id": "d", "grade": None},
    ]
    grpo = [  # another order: pairing is by id, not position; "e" has no SFT answer
        {"item_id": "c#1", "grade": "not_attempted"},
        {"item_id": "c#0", "grade": "correct"},
        {"item_id": "b", "grade": "not_attempted"},
        {"item_id": "a", "grade": "not_attempted"},
        {"item_id": "d", "grade": "correct"},
        {"item_id": "e", "grade": "correct"},
    ]
    assert grade_moves(sft, grpo) == {
        "correct->correct": 1,
        "correct->not_attempted": 1,
        "incorrect->not_attempted": 2,
        "ungraded->correct": 1,
    }


def test_refused_share_counts_only_answers_of_that_grade_before() -> None:
    moves = {"correct->correct": 3, "correct->not_attempted": 1}
    moves |= {"incorrect->not_attempted": 2, "incorrect->correct": 2}
    assert refused_share(moves, "correct") == 0.25
    assert refused_share(moves, "incorrect") == 0.5
    assert refused_share(moves, "not_attempted") == 0.0  # no such answer before: nothing to refuse


def test_gate_directions_are_explicit() -> None:
    row = lambda base, grpo: {"base": base, "sft": base, "grpo": grpo}  # noqa: E731
    comparison = {
        "simpleqa": {
            "kind": "qa",
            "metrics": {
                "incorrect_rate": row(0.6, 0.5),
                "not_attempted_rate": row(0.1, 0.4),
                "correct_rate": row(0.3, 0.1),
            },
        }
    }
    assert check_gate({"simpleqa.incorrect_rate": 0.0}, comparison) == []  # fewer wrong answers: better
    [violation] = check_gate({"simpleqa.correct_rate": 0.1}, comparison)
    assert "simpleqa.correct_rate" in violation and "+0.200 worse" in violation
    with pytest.raises(GateConfigError, match="no bad direction"):  # more refusals is the intended effect
        check_gate({"simpleqa.not_attempted_rate": 0.0}, comparison)
    with pytest.raises(GateConfigError, match="was not evaluated"):
        check_gate({"gpqa.accuracy": 0.0}, comparison)


def test_evaluate_stage_compares_three_models_stores_and_reports(ctx, tiny_model_dir: Path) -> None:
    cfg = EvaluateConfig(
        max_new_tokens=8,
        batch_size=4,
        bootstrap_samples=100,
        benchmarks=[
            BenchmarkSpec(name="simpleqa", source=str(DEMO / "eval" / "unknown.csv"), limit=4),
            BenchmarkSpec(name="truthfulqa", source=str(DEMO / "eval" / "truthfulqa.csv")),
            BenchmarkSpec(name="gpqa", source=str(DEMO / "eval" / "gpqa.csv")),
            BenchmarkSpec(name="aime", source=str(DEMO / "eval" / "aime.jsonl")),
        ],
    )
    # One trained model artifact on both trained sides (as a worker receives it: named by id, opened from the store).
    trained = ctx.artifacts.write("sft", lambda d: shutil.copytree(tiny_model_dir, d / "merged"))
    model = made_up_ref("sft", trained.artifact_id)
    refs = {"sft": SFTRef.model_validate({**model, "base_model_path": str(tiny_model_dir)}), "grpo": SFTRef(**model)}
    ref = run_evaluate_stage(cfg, refs, ctx)
    assert set(ref.comparison) == {"simpleqa", "truthfulqa", "gpqa", "aime"}
    row = ref.comparison["simpleqa"]["metrics"]["incorrect_rate"]
    assert {row["base"], row["sft"], row["grpo"]} == {row["base"]}  # one model on three sides
    assert row["grpo-sft"] == {"diff": 0.0, "ci_low": 0.0, "ci_high": 0.0}
    # One model on both trained sides: every answer keeps its grade, and only QA benchmarks count moves.
    moves = ref.comparison["simpleqa"]["moves"]["grpo-sft"]
    assert sum(moves.values()) == 4 and all(k.split("->")[0] == k.split("->")[1] for k in moves), moves
    assert "moves" not in ref.comparison["gpqa"]
    report = Path(ref.report_path).read_text()
    assert "| simpleqa | incorrect_rate |" in report and "GRPO - SFT" in report and ref.summary in report
    assert "- simpleqa: none" in report  # no answer changed grade
    assert "simpleqa: incorrect" in ref.summary and "no fewer wrong answers than SFT" in ref.summary
    assert Path(ref.chart_path).stat().st_size > 1000
    with ctx.warehouse.connect() as con:
        rows = con.execute("SELECT benchmark, count(*) FROM eval_items GROUP BY benchmark ORDER BY 1").fetchall()
    # Two models (the base folder, and the one trained artifact on two sides): two sets of rows, not three.
    assert rows == [("aime", 10), ("gpqa", 12), ("simpleqa", 8), ("truthfulqa", 10)]
    again = run_evaluate_stage(cfg, refs, ctx)
    assert again.cache_hits == 12 and again.comparison == ref.comparison


def test_hub_benchmark_keeps_the_real_loading_path(tmp_path: Path, hub_offline: None) -> None:
    spec = BenchmarkSpec(name="gpqa", source="Idavidrein/gpqa", file="gpqa_diamond.csv", revision="main")
    with pytest.raises(
        BenchmarkError, match=r"gpqa from Hub dataset 'Idavidrein/gpqa' \(gpqa_diamond.csv, revision main"
    ):
        load_benchmark(spec, tmp_path)


local_hub = hub_clients.local_hub  # the fixture: a local Hub with both clients pointed at it


def test_every_configuration_of_a_hub_benchmark_is_read(local_hub, tmp_path: Path) -> None:
    """opencompass/AIME2025 in its real layout (two configurations declared in its README), through load_dataset."""
    register(local_hub, "opencompass/AIME2025", tmp_path / "layouts")
    both = BenchmarkSpec(
        name="aime", source="opencompass/AIME2025", configs=["AIME2025-I", "AIME2025-II"], split="test"
    )
    one = both.model_copy(update={"configs": None, "config": "AIME2025-II"})
    bench, second = load_benchmark(both, tmp_path / "cache"), load_benchmark(one, tmp_path / "cache")
    assert bench.configs == ["AIME2025-I", "AIME2025-II"] and len(bench.items) > len(second.items) > 0
    assert len({i.item_id for i in bench.items}) == len(bench.items)  # problem 1 of -I is not problem 1 of -II
    assert all(i.kind == "integer" and i.gold[0].isdigit() for i in bench.items)
    with pytest.raises(BenchmarkError, match="configuration AIME2025-III"):
        load_benchmark(one.model_copy(update={"config": "AIME2025-III"}), tmp_path / "cache")


def test_sampled_runs_truncations_and_prompt_styles_are_reported(ctx, tiny_model_dir: Path) -> None:
    cfg = EvaluateConfig(
        max_new_tokens=24,
        batch_size=8,
        bootstrap_samples=100,
        benchmarks=[
            BenchmarkSpec(name="simpleqa", source=str(DEMO / "eval" / "unknown.csv"), limit=4, max_new_tokens=3),
            BenchmarkSpec(name="aime", source=str(DEMO / "eval" / "aime.jsonl"), samples=3, temperature=0.9),
        ],
    )
    trained = ctx.artifacts.write("sft", lambda d: shutil.copytree(tiny_model_dir, d / "merged"))
    model = made_up_ref("sft", trained.artifact_id)
    refs = {"sft": SFTRef.model_validate({**model, "base_model_path": str(tiny_model_dir)}), "grpo": SFTRef(**model)}
    ref = run_evaluate_stage(cfg, refs, ctx)
    qa, aime = ref.comparison["simpleqa"], ref.comparison["aime"]
    # Three tokens cannot hold a think-then-answer reply: every answer is cut at the limit, and counted.
    assert qa["metrics"]["truncated_rate"]["grpo"] == 1.0 and "spread" not in qa["metrics"]["truncated_rate"]
    assert aime["generation"] == {"max_new_tokens": 24, "samples": 3, "temperature": 0.9, "top_p": 1.0}
    assert set(aime["metrics"]["accuracy"]["spread"]) == {"base", "sft", "grpo"}
    # The base model is asked without the method's instruction; the trained ones with it (two sets of answers
    # for one model folder on the base and trained sides).
    assert ref.prompt_styles == {"base": "user", "sft": "system", "grpo": "system"}
    report = Path(ref.report_path).read_text()
    assert "prompted as `user`" in report and "3 samples at temperature 0.9" in report
    with ctx.warehouse.connect() as con:
        rows = dict(con.execute("SELECT benchmark, count(*) FROM eval_items GROUP BY benchmark").fetchall())
    assert rows == {"simpleqa": 4 * 2, "aime": 5 * 3 * 2}  # items x samples x (base style, trained style)


def test_the_result_line_says_when_grpo_was_stopped_by_its_health_limits() -> None:
    from types import SimpleNamespace

    from knowrl.evaluate.report import markdown_report, training_caveat
    from knowrl.train.result import HealthStop

    stop = HealthStop(
        monitor="abstention_rate",
        step=12,
        first_step=10,
        stopped_at=12,
        value=0.97,
        reason="abstention_rate 0.97 > 0.9 for 3 logged steps (10-12)",
        checkpoint="checkpoint-10",
        on_trip="warn",
    )
    caveat = training_caveat(SimpleNamespace(stopped=stop))
    assert caveat.startswith("the GRPO model is from a run that stopped at step 12 by grpo.health: abstention_rate")
    assert "on_trip=warn" in caveat
    assert training_caveat(SimpleNamespace(stopped=None)) == ""
    report = markdown_report({}, {"grpo": "artifact:x"}, caveat + "GRPO answers wrongly less often.")
    assert "**Result:** the GRPO model is from a run that stopped" in report
