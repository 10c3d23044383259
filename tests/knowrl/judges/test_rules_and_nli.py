from __future__ import annotations

from pathlib import Path

import pytest

from knowrl.config.backends import ExtractorConfig, JudgeConfig, VerifierConfig
from knowrl.judges import build_extractor, build_judge, build_verifier
from knowrl.judges.base import Grade, JudgeItem
from knowrl.judges.hf_backends import entailment_index
from storage.llm_cache import LLMCache
from tests.support.tiny_nli import build_tiny_nli


def test_rules_judge_grades() -> None:
    judge = build_judge(JudgeConfig())
    grade = lambda gold, answer, wrong=(): judge.grade_many([JudgeItem("q", tuple(gold), answer, tuple(wrong))])[0]  # noqa: E731
    assert grade(["Alexander Fleming"], "It was Alexander Fleming.") == Grade.CORRECT
    assert grade(["Fleming", "Alexander Fleming"], "alexander  fleming") == Grade.CORRECT
    assert grade(["8,849"], "About 8849 metres") == Grade.CORRECT
    assert grade(["1953"], "1954") == Grade.INCORRECT
    assert grade(["Paris"], "I don't know.") == Grade.NOT_ATTEMPTED
    assert grade(["Paris"], "我不知道") == Grade.NOT_ATTEMPTED
    assert grade(["Paris"], "London") == Grade.INCORRECT
    assert grade(["No"], "No, yes it is visible", wrong=["yes it is visible"]) == Grade.INCORRECT


def test_rules_extractor_drops_hedges_and_questions() -> None:
    extractor = build_extractor(ExtractorConfig())
    text = (
        "Okay, let me think. Penicillin was discovered by Alexander Fleming in 1928. Was it 1929? "
        "Maybe it was someone else. It is produced by a mould; it treats bacterial infections."
    )
    assert extractor.extract_many([text])[0] == [
        "Penicillin was discovered by Alexander Fleming in 1928.",
        "It is produced by a mould",
        "It treats bacterial infections.",
    ]


def test_lexical_verifier_maps_overlap_to_threshold() -> None:
    verifier = build_verifier(VerifierConfig())
    supported, unsupported, empty = verifier.entailment_many(
        [
            ("Fleming discovered penicillin", ["Penicillin was discovered by Alexander Fleming."]),
            ("Pasteur discovered radium in Lyon", ["Penicillin was discovered by Alexander Fleming."]),
            ("Fleming discovered penicillin", []),
        ]
    )
    assert supported >= 0.3 > unsupported and empty == 0.0


def test_entailment_label_comes_from_the_config() -> None:
    assert entailment_index({0: "entailment", 1: "neutral", 2: "contradiction"}) == 0
    assert entailment_index({0: "CONTRADICTION", 1: "NEUTRAL", 2: "ENTAILMENT"}) == 2
    with pytest.raises(ValueError, match="no 'entailment' class"):
        entailment_index({0: "LABEL_0", 1: "LABEL_1"})


@pytest.fixture(scope="module")
def tiny_nli(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT NLI classifier whose head makes P(entailment) = e / (2 + e) for every pair."""
    return build_tiny_nli(tmp_path_factory.mktemp("nli"), entailment_bias=1.0)


def test_nli_verifier_batches_and_caches(tiny_nli: Path, ctx) -> None:
    from knowrl.judges.hf_backends import NLIVerifier

    cache = LLMCache(ctx.warehouse)
    verifier = NLIVerifier(VerifierConfig(backend="nli", batch_size=2), cache, model_path=tiny_nli)
    assert verifier.entail == 2
    pairs = [(f"fact {i}", ["penicillin was discovered by fleming"]) for i in range(5)]
    probs = verifier.entailment_many(pairs)
    assert probs == pytest.approx([2.718281828 / (2 + 2.718281828)] * 5, abs=1e-4)
    assert verifier.stats.calls == 3  # 5 pairs in batches of 2
    again = NLIVerifier(VerifierConfig(backend="nli", batch_size=2), cache, model_path=tiny_nli)
    assert again.entailment_many(pairs) == pytest.approx(probs)
    assert again.stats.calls == 0 and again.stats.cache_hits == 5


def test_hf_causal_lm_judge_and_extractor_run_batched_and_cache(tiny_model_dir: Path, ctx) -> None:
    """Plumbing of the local-model backends on the tiny model (its replies are not meaningful grades)."""
    from knowrl.judges.hf_backends import HFExtractor, HFJudge

    cache = LLMCache(ctx.warehouse)
    judge = HFJudge(JudgeConfig(backend="hf", hf_model=str(tiny_model_dir)), cache)
    items = [JudgeItem("Who wrote Hamlet?", ("Shakespeare",), answer) for answer in ("Shakespeare", "Marlowe")]
    grades = judge.grade_many(items)
    assert len(grades) == 2 and all(g is None or isinstance(g, Grade) for g in grades)
    again = HFJudge(JudgeConfig(backend="hf", hf_model=str(tiny_model_dir)), cache)
    assert again.grade_many(items) == grades and again.stats.cache_hits == 2 and again.stats.calls == 0
    extractor = HFExtractor(ExtractorConfig(backend="hf", hf_model=str(tiny_model_dir)), cache)
    facts = extractor.extract_many(["Penicillin was discovered by Fleming."])
    assert len(facts) == 1 and isinstance(facts[0], list)
    with pytest.raises(ValueError, match="needs judge.hf_model"):
        HFJudge(JudgeConfig(backend="hf"), cache)
