"""Long-form factuality (the factscore kind) and SimpleQA Verified's loader."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from knowrl.config.backends import ExtractorConfig, JudgeConfig, VerifierConfig
from knowrl.errors import ConfigError
from knowrl.evaluate.benchmarks import BenchmarkError, load_benchmark
from knowrl.evaluate.config import BenchmarkSpec, EvaluateConfig
from knowrl.evaluate.factscore import FactCheck, check_responses, factscore_metrics
from knowrl.evaluate.metrics import benchmark_metrics, per_item_values
from knowrl.evaluate.scoring import score_items
from knowrl.evaluate.stage import run_evaluate_stage
from knowrl.judges import build_extractor, build_judge, build_verifier
from knowrl.train.result import SFTRef
from tests.support import hub_clients
from tests.support.hub_layouts import register
from tests.support.refs import made_up_ref

FLEMING = "Penicillin was discovered by Alexander Fleming. Alexander Fleming discovered penicillin in 1928."
local_hub = hub_clients.local_hub  # the fixture: a local Hub with both clients pointed at it


class PageStore:
    """Each title's passages, returned in order for any query within the scope."""

    def __init__(self, pages: dict[str, list[str]]) -> None:
        self.pages = pages
        self.queries: list[str] = []

    def covers(self, titles: list[str]) -> bool:
        return any(t in self.pages for t in titles)

    def search_batch(self, queries: list[str], scopes: list[list[str]], k: int) -> list[SimpleNamespace]:
        self.queries.extend(queries)
        return [
            SimpleNamespace(
                passages=[SimpleNamespace(text=t) for title in scope for t in self.pages.get(title, [])][:k]
            )
            for scope in scopes
        ]


def _check(pages: dict[str, list[str]] | None = None) -> FactCheck:
    store = PageStore(pages if pages is not None else {"Alexander Fleming": [FLEMING]})
    return FactCheck(build_extractor(ExtractorConfig()), build_verifier(VerifierConfig()), store)


def test_factscore_file_names_entities_prompts_and_pages(tmp_path: Path) -> None:
    path = tmp_path / "bios.csv"
    path.write_text(
        "entity,prompt,titles\n"
        "Alexander Fleming,,\n"
        "Penicillin,Give an overview of Penicillin.,Penicillin;Alexander Fleming\n"
    )
    bench = load_benchmark(BenchmarkSpec(name="factscore", source=str(path)), tmp_path)
    first, second = bench.items
    assert (first.kind, first.question, first.prompt, first.titles) == (
        "factscore",
        "Alexander Fleming",
        "Tell me a bio of Alexander Fleming.",  # FActScore's prompt
        ["Alexander Fleming"],  # the entity's own page
    )
    assert (second.prompt, second.titles) == ("Give an overview of Penicillin.", ["Penicillin", "Alexander Fleming"])
    moved = path.with_name("moved.csv")
    moved.write_text("entity,prompt,titles\nAlexander Fleming,,Fleming\nPenicillin,Give an overview of Penicillin.,\n")
    other = load_benchmark(BenchmarkSpec(name="factscore", source=str(moved)), tmp_path)
    assert other.fingerprint != bench.fingerprint  # the pages a fact is checked in are part of the set
    path.write_text("name,prompt\nFleming,hi\n")
    with pytest.raises(BenchmarkError, match="lacks column entity or topic or title"):
        load_benchmark(BenchmarkSpec(name="factscore", source=str(path)), tmp_path)
    path.write_text("entity,prompt\nFleming,\n ,x\n")
    with pytest.raises(BenchmarkError, match="row 2 has no entity"):
        load_benchmark(BenchmarkSpec(name="factscore", source=str(path)), tmp_path)


def test_responses_facts_are_checked_in_the_entitys_pages() -> None:
    check = _check()
    answers = [
        # Two facts: the first on the page (supported), the second not: precision 1/2.
        "Alexander Fleming discovered penicillin in 1928. Fleming was born in Paris in 1990.",
        "I don't know.",  # a refusal abstains
        "Hmm.",  # no fact: abstains, as FActScore counts a response with no atomic fact
        None,  # no text at all
        "Alexander Fleming discovered penicillin in 1928.",  # about an entity with no page: nothing supported
    ]
    scopes = [["Alexander Fleming"]] * 4 + [["Nobody"]]
    results = check_responses(check, ["Alexander Fleming"] * 5, scopes, answers)
    first, refusal, empty, missing, unknown = results
    assert (first["n_facts"], first["n_supported"], first["precision"], first["abstained"]) == (2, 1, 0.5, False)
    assert first["factscore"] == pytest.approx(0.5 * 2.718281828 ** (1 - 10 / 2))  # FActScore's gamma-10 penalty
    assert all(r["abstained"] and r["precision"] is None and r["n_supported"] == 0 for r in (refusal, empty, missing))
    assert (unknown["no_evidence"], unknown["n_facts"], unknown["precision"]) == (True, 1, 0.0)
    assert check.store.queries == [
        "Alexander Fleming Alexander Fleming discovered penicillin in 1928.",  # the entity + the fact
        "Alexander Fleming Fleming was born in Paris in 1990.",
    ]
    items = [{"details": r} for r in results]
    metrics = factscore_metrics(items)
    # Responding: the first and the last (0.5 and 0.0); supported facts 1 over 5 responses; 3 of 5 abstain.
    assert metrics == pytest.approx(
        {
            "precision": 0.25,
            "factscore": first["factscore"] / 2,
            "supported_per_response": 0.2,
            "facts_per_response": 1.5,
            "abstention_rate": 0.6,
            "fact_check_failures": 0.0,
        }
    )


def test_a_failed_extraction_is_counted_and_supports_nothing() -> None:
    check = _check()
    failing = SimpleNamespace(extract_many=lambda texts: [None] * len(texts))
    check = FactCheck(failing, check.verifier, check.store)
    [result] = check_responses(check, ["Alexander Fleming"], [["Alexander Fleming"]], ["He discovered penicillin."])
    assert result["check_failed"] and result["abstained"] and result["n_supported"] == 0
    assert factscore_metrics([{"details": result}])["fact_check_failures"] == 1.0


def test_score_items_and_metrics_of_the_factscore_kind(tmp_path: Path) -> None:
    path = tmp_path / "bios.csv"
    path.write_text("entity\nAlexander Fleming\nAlexander Fleming Junior\n")
    bench = load_benchmark(BenchmarkSpec(name="factscore", source=str(path)), tmp_path)
    generations = [
        "<think>\nI know him.\n</think>\n<answer>Alexander Fleming discovered penicillin in 1928.</answer>",
        "<think>\nNo idea.\n</think>\n<answer>I don't know.</answer>",
    ]
    judge = build_judge(JudgeConfig())
    with pytest.raises(ValueError, match="needs a FactCheck"):
        score_items(bench.items, generations, judge)
    scored = [vars(s) for s in score_items(bench.items, generations, judge, facts=_check())]
    assert [s["score"] for s in scored] == [1.0, None] and [s["grade"] for s in scored] == [None, "not_attempted"]
    metrics = benchmark_metrics("factscore", scored)
    assert (metrics["precision"], metrics["abstention_rate"], metrics["supported_per_response"]) == (1.0, 0.5, 0.5)
    assert per_item_values("abstention_rate", scored) is not None and per_item_values("precision", scored) is None


def test_simpleqa_verified_loads_from_its_hub_layout(local_hub, tmp_path: Path) -> None:
    """google/simpleqa-verified in its real layout: one CSV, SimpleQA's problem/answer columns, one split `eval`."""
    register(local_hub, "google/simpleqa-verified", tmp_path / "layouts")
    spec = BenchmarkSpec(name="simpleqa_verified", source="google/simpleqa-verified")
    assert spec.split == "eval"  # its only split, the kind's default
    bench = load_benchmark(spec, tmp_path / "cache")
    assert bench.items and all(i.kind == "qa" and i.gold and i.gold[0] for i in bench.items)
    by_file = load_benchmark(spec.model_copy(update={"file": "simpleqa_verified.csv"}), tmp_path / "cache")
    assert [i.question for i in by_file.items] == [i.question for i in bench.items]
    with pytest.raises(BenchmarkError, match="split test"):
        load_benchmark(BenchmarkSpec(name="simpleqa_verified", source=spec.source, split="test"), tmp_path / "c2")


def test_evaluate_stage_reports_factscore_with_the_knowledge_store(
    ctx, tiny_model_dir: Path, demo_knowledge_ref, tmp_path: Path
) -> None:
    path = tmp_path / "bios.csv"
    path.write_text("entity,prompt\nMarie Curie,\nMount Everest,Give an overview of Mount Everest.\n")
    cfg = EvaluateConfig(
        max_new_tokens=12,
        batch_size=2,
        bootstrap_samples=50,
        benchmarks=[BenchmarkSpec(name="factscore", label="bios", source=str(path))],
    )
    trained = ctx.artifacts.write("sft", lambda d: shutil.copytree(tiny_model_dir, d / "merged"))
    model = made_up_ref("sft", trained.artifact_id)
    refs = {"sft": SFTRef.model_validate({**model, "base_model_path": str(tiny_model_dir)}), "grpo": SFTRef(**model)}
    with pytest.raises(ConfigError, match="factscore benchmark checks facts in the knowledge stage's store"):
        run_evaluate_stage(cfg, refs, ctx)
    ref = run_evaluate_stage(cfg, {**refs, "knowledge": demo_knowledge_ref}, ctx)
    bios = ref.comparison["bios"]
    assert bios["kind"] == "factscore" and bios["items"] == 2
    assert {"precision", "supported_per_response", "abstention_rate", "factscore"} <= set(bios["metrics"])
    assert "bios: fact precision" in ref.summary
    assert "| bios | abstention_rate |" in Path(ref.report_path).read_text()
    assert {"extractor:factscore", "verifier:factscore"} <= {row["role"] for row in ref.usage}
