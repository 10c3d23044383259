from __future__ import annotations

from pathlib import Path

import pytest

from knowrl.config.backends import ExtractorConfig, JudgeConfig, VerifierConfig
from knowrl.judges import build_extractor, build_judge, build_verifier
from knowrl.judges.base import CallStats, Grade, JudgeItem
from knowrl.judges.nli import entailment_index
from knowrl.judges.pairwise import PairwiseVerifier
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


def test_rules_extractor_follows_the_extraction_rules() -> None:
    extractor = build_extractor(ExtractorConfig())
    text = (
        "Okay, let me think. Penicillin was discovered by Alexander Fleming in 1928. Was it 1929? "
        "Maybe it was found in London. It is produced by a mould; it treats bacterial infections. "
        "The Battle of Hastings took place in 1067. Actually, the Battle of Hastings took place in 1066. "
        "Penicillin was discovered by Alexander Fleming in 1928. So, it is."
    )
    assert extractor.extract_many([text])[0] == [
        "Penicillin was discovered by Alexander Fleming in 1928.",  # once: duplicates removed
        "It was found in London.",  # a hedged claim is kept as a claim
        "It is produced by a mould",
        "It treats bacterial infections.",
        "The Battle of Hastings took place in 1066.",  # only the final version of a self-correction
    ]  # "So, it is." has fewer than 3 words once the hedge is stripped: dropped
    assert extractor.extract_many(["Hmm, let me check. What year was it?"]) == [[]]


def test_rules_extractor_has_no_cap_by_default() -> None:
    text = " ".join(f"Fact number {i} is stated here." for i in range(60))
    assert len(build_extractor(ExtractorConfig()).extract_many([text])[0]) == 60
    assert len(build_extractor(ExtractorConfig(max_facts=5)).extract_many([text])[0]) == 5


@pytest.mark.parametrize("threshold", [0.3, 0.5])
def test_lexical_verifier_maps_overlap_to_the_configured_threshold(threshold: float) -> None:
    verifier = build_verifier(VerifierConfig(entailment_threshold=threshold))
    supported, unsupported, empty = verifier.entailment_many(
        [
            ("Fleming discovered penicillin", ["Penicillin was discovered by Alexander Fleming."]),
            ("Pasteur discovered radium in Lyon", ["Penicillin was discovered by Alexander Fleming."]),
            ("Fleming discovered penicillin", []),
        ]
    )
    assert supported >= threshold > unsupported and empty == 0.0


class _RecordingVerifier(PairwiseVerifier):
    """Entailment from a table of (passage, fact) pairs; records every batch it is asked to score."""

    def __init__(self, table: dict[tuple[str, str], float | None], threshold: float = 0.3) -> None:
        self.table, self.threshold, self.stats, self.batches = table, threshold, CallStats(), []

    def score_pairs(self, pairs: list[tuple[str, str]]) -> list[float | None]:
        self.batches.append(pairs)
        return [self.table.get(pair, 0.0) for pair in pairs]


def test_each_passage_is_its_own_premise_and_the_first_supporting_one_ends_the_fact() -> None:
    table = {("p2", "f1"): 0.9, ("p1", "f2"): 0.35, ("p3", "f3"): 0.2}
    verifier = _RecordingVerifier(table)
    values = verifier.entailment_many([("f1", ["p1", "p2", "p3"]), ("f2", ["p1", "p2"]), ("f3", ["p1", "p2", "p3"])])
    assert values == [0.9, 0.35, 0.2]  # f1 by its 2nd passage, f2 by its 1st (>= 0.3), f3 never (best 0.2)
    # Wave by passage rank, batched across facts: a supported fact is not checked against later passages.
    assert verifier.batches == [
        [("p1", "f1"), ("p1", "f2"), ("p1", "f3")],
        [("p2", "f1"), ("p2", "f3")],
        [("p3", "f3")],
    ]


def test_a_pair_that_cannot_be_scored_fails_its_fact_only() -> None:
    verifier = _RecordingVerifier({("p1", "f1"): None, ("p1", "f2"): 0.8})
    assert verifier.entailment_many([("f1", ["p1", "p2"]), ("f2", ["p1"]), ("f3", [])]) == [None, 0.8, 0.0]


def test_entailment_label_comes_from_the_config() -> None:
    assert entailment_index({0: "entailment", 1: "neutral", 2: "contradiction"}) == 0
    assert entailment_index({0: "CONTRADICTION", 1: "NEUTRAL", 2: "ENTAILMENT"}) == 2
    with pytest.raises(ValueError, match="no 'entailment' class"):
        entailment_index({0: "LABEL_0", 1: "LABEL_1"})


@pytest.fixture(scope="module")
def tiny_nli(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT NLI classifier whose head makes P(entailment) = e / (2 + e) for every pair."""
    return build_tiny_nli(tmp_path_factory.mktemp("nli"), entailment_bias=1.0)


def test_nli_verifier_batches_pairs_and_caches_each_pair(tiny_nli: Path, ctx) -> None:
    from knowrl.judges.nli import NLIVerifier

    p_entail = 2.718281828 / (2 + 2.718281828)  # the tiny model's constant P(entailment), about 0.576
    cache = LLMCache(ctx.warehouse)
    verifier = NLIVerifier(VerifierConfig(backend="nli", batch_size=2), cache, model_path=tiny_nli)
    assert verifier.entail == 2
    pairs = [(f"fact {i}", ["penicillin was discovered by fleming", "paris is the capital"]) for i in range(5)]
    probs = verifier.entailment_many(pairs)
    assert probs == pytest.approx([p_entail] * 5, abs=1e-4)
    assert verifier.stats.calls == 3  # supported by the first passage: 5 pairs in batches of 2, no second wave
    again = NLIVerifier(VerifierConfig(backend="nli", batch_size=2), cache, model_path=tiny_nli)
    assert again.entailment_many(pairs) == pytest.approx(probs)
    assert again.stats.calls == 0 and again.stats.cache_hits == 5
    strict = NLIVerifier(VerifierConfig(backend="nli", batch_size=2, entailment_threshold=0.9), None, tiny_nli)
    assert strict.entailment_many(pairs) == pytest.approx([p_entail] * 5, abs=1e-4)
    assert strict.stats.calls == 6  # unsupported: every fact is checked against both passages (2 waves x 3)


def test_hf_causal_lm_judge_and_extractor_run_batched_and_cache(tiny_model_dir: Path, ctx) -> None:
    """Plumbing of the local-model backends on the tiny model (its replies are not meaningful grades)."""
    from knowrl.judges import build_extractor, build_judge

    cache = LLMCache(ctx.warehouse)
    judge_cfg = JudgeConfig(backend="hf", hf_model=str(tiny_model_dir), max_tokens=8)
    judge = build_judge(judge_cfg, cache)
    items = [JudgeItem("Who wrote Hamlet?", ("Shakespeare",), answer) for answer in ("Shakespeare", "Marlowe")]
    grades = judge.grade_many(items)
    assert len(grades) == 2 and all(g is None or isinstance(g, Grade) for g in grades)
    again = build_judge(judge_cfg, cache)
    assert again.grade_many(items) == grades and again.stats.cache_hits == 2 and again.stats.calls == 0
    extractor = build_extractor(ExtractorConfig(backend="hf", hf_model=str(tiny_model_dir), max_tokens=32), cache)
    facts = extractor.extract_many(["Penicillin was discovered by Fleming."])
    assert len(facts) == 1 and isinstance(facts[0], list)
    with pytest.raises(ValueError, match="needs judge.hf_model"):
        build_judge(JudgeConfig(backend="hf"), cache)


def test_the_exact_rules_judge_is_stricter_than_the_reward_s() -> None:
    contains = build_judge(JudgeConfig(backend="rules"))
    exact = build_judge(JudgeConfig(backend="rules", match="exact"))
    items = [
        JudgeItem("Who wrote Hamlet?", ("William Shakespeare",), "William Shakespeare"),
        JudgeItem("Who wrote Hamlet?", ("William Shakespeare",), "the William Shakespeare."),
        JudgeItem("Who wrote Hamlet?", ("William Shakespeare",), "William Shakespeare or Marlowe"),
        JudgeItem("How tall is it?", ("8,849",), "8849 metres"),
        JudgeItem("How tall is it?", ("8,849",), "8,849 or 8,848 metres"),
        JudgeItem("Who wrote Hamlet?", ("William Shakespeare",), "I don't know."),
    ]
    correct, incorrect, refused = Grade.CORRECT, Grade.INCORRECT, Grade.NOT_ATTEMPTED
    assert contains.grade_many(items) == [correct, correct, correct, correct, correct, refused]
    assert exact.grade_many(items) == [correct, correct, incorrect, correct, incorrect, refused]
