"""The rewards beyond KnowRL, on cases worked by hand from each paper's definition.

- TruthRL (arXiv 2509.25760): r = +1 correct, 0 abstain, -1 incorrect (their missing \\boxed{} is -1 too);
- Binary RAR (arXiv 2510.17733): r = 1 when the verifier finds no contradiction between the response and the
  retrieved evidence, else 0; "I don't know" contradicts nothing (r = 1); an unparseable response or verifier
  failure 0;
- RLCR (arXiv 2507.16806): r = 1{correct} - (q - 1{correct})^2.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from knowrl.config.backends import ExtractorConfig, JudgeConfig, VerifierConfig
from knowrl.errors import ConfigError
from knowrl.judges import build_extractor, build_judge, build_verifier
from knowrl.judges.base import Grade
from knowrl.method.parsing import is_well_formed_with_confidence, stated_confidence
from knowrl.rewards import RewardScorer, build_reward_functions
from knowrl.rewards.arithmetic import binary_rar_score, calibration_score, truthfulness_score
from knowrl.rewards.contradiction import LexicalContradiction, NLIContradiction, contradiction_index
from knowrl.rewards.family import answer_claim
from knowrl.rewards.registry import RewardLog
from knowrl.train.config import RewardSpec
from storage.llm_cache import LLMCache
from tests.support.tiny_nli import build_tiny_nli

FLEMING = "Penicillin was discovered by Alexander Fleming. Alexander Fleming discovered penicillin in 1928."
PARIS = "Paris is the capital and largest city of France."
QUESTION = "Who discovered penicillin?"


def _completion(answer: str, confidence: str | None = None) -> str:
    tail = f"\n<confidence>{confidence}</confidence>" if confidence is not None else ""
    return f"<think>\nI recall the history of antibiotics.\n</think>\n<answer>{answer}</answer>{tail}"


# -- the arithmetic ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "grade", "expected"),
    [
        ("Alexander Fleming", Grade.CORRECT, 1.0),
        ("I don't know.", Grade.NOT_ATTEMPTED, 0.0),
        ("Louis Pasteur", Grade.INCORRECT, -1.0),
        (None, None, -1.0),  # no answer: a format failure counts as a hallucination
        ("  ", None, -1.0),
        ("Alexander Fleming", None, None),  # the judge failed: no signal
    ],
)
def test_truthfulness_is_ternary(answer: str | None, grade: Grade | None, expected: float | None) -> None:
    assert truthfulness_score(answer, grade) == expected


def test_binary_rar_is_one_unless_some_fact_reaches_the_threshold() -> None:
    assert binary_rar_score([0.1, 0.49], 0.5) == 1.0
    assert binary_rar_score([0.1, 0.5], 0.5) == 0.0  # at the threshold: contradicted
    assert binary_rar_score([0.1, 0.9], 0.95) == 1.0
    assert binary_rar_score([], 0.5) == 1.0  # nothing stated, nothing contradicted


@pytest.mark.parametrize(
    ("correct", "q", "expected"),
    [
        (True, 1.0, 1.0),  # right and sure: the maximum
        (True, 0.8, 0.96),  # 1 - (0.8 - 1)^2 = 1 - 0.04
        (True, 0.5, 0.75),  # 1 - 0.25
        (True, 0.0, 0.0),  # right but "sure it is wrong": 1 - 1
        (False, 0.8, -0.64),  # 0 - 0.8^2
        (False, 0.5, -0.25),
        (False, 0.0, 0.0),  # wrong and says so
        (False, 1.0, -1.0),  # wrong and sure: the minimum
    ],
)
def test_calibration_is_correctness_minus_brier(correct: bool, q: float, expected: float) -> None:
    assert calibration_score(correct, q) == pytest.approx(expected)


def test_calibration_refuses_a_confidence_outside_0_1() -> None:
    with pytest.raises(ValueError, match=r"confidence must be in \[0, 1\], got 1.5"):
        calibration_score(True, 1.5)


# -- the confidence tag ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "stated"),
    [
        (_completion("Fleming", "0.8"), 0.8, True),
        (_completion("Fleming", " 1 "), 1.0, True),
        (_completion("Fleming", "80%"), 0.8, True),
        (_completion("Fleming", "0"), 0.0, True),
        (_completion("Fleming"), 0.5, False),  # absent
        (_completion("Fleming", ""), 0.5, False),  # empty
        (_completion("Fleming", "high"), 0.5, False),  # not a number
        (_completion("Fleming", "80"), 0.5, False),  # out of range (a percentage needs its %)
        (_completion("Fleming", "nan"), 0.5, False),
        ("<confidence>0.9</confidence><think>x y z</think><answer>Fleming</answer>", 0.5, False),  # before the answer
        (_completion("Fleming", "0.2") + "<confidence>0.7</confidence>", 0.7, True),  # the last tag counts
    ],
)
def test_stated_confidence(text: str, value: float, stated: bool) -> None:
    found = stated_confidence(text)
    assert (found.value, found.stated) == (pytest.approx(value), stated)


def test_format_accepts_the_confidence_tag_only_after_the_answer() -> None:
    assert is_well_formed_with_confidence(_completion("Fleming", "0.8"))
    assert is_well_formed_with_confidence(_completion("Fleming", "0.8") + "\n")
    assert is_well_formed_with_confidence(_completion("Fleming"))  # optional: the reward counts a missing one
    assert not is_well_formed_with_confidence(_completion("Fleming", "0.8") + " and more")
    assert not is_well_formed_with_confidence(_completion("Fleming") + " text <confidence>0.8</confidence>")
    assert not is_well_formed_with_confidence("<answer>Fleming</answer><confidence>0.8</confidence>")


# -- the reward functions over the shared scorer ------------------------------------------------------------------


class PageStore:
    """A knowledge store stand-in: each title's passages, returned in order for any query within the scope."""

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


class TableChecker:
    """P(contradiction) by (passage, claim), 0 for any other pair; records the pairs it was asked."""

    def __init__(self, table: dict[tuple[str, str], float | None]) -> None:
        self.table, self.asked = table, []

    def __call__(self, pairs: list[tuple[str, str]]) -> list[float | None]:
        self.asked.extend(pairs)
        return [self.table.get(pair, 0.0) for pair in pairs]


def _scorer(pages: dict[str, list[str]] | None = None) -> RewardScorer:
    store = PageStore(pages if pages is not None else {"Penicillin": [FLEMING, "Penicillin is an antibiotic."]})
    judge, extractor = build_judge(JudgeConfig()), build_extractor(ExtractorConfig())
    return RewardScorer(judge, extractor, build_verifier(VerifierConfig()), store)


def _columns(n: int, titles: list[str] | None = None) -> dict:
    return {
        "question": [QUESTION] * n,
        "answers": [["Alexander Fleming"]] * n,
        "titles": [titles or ["Penicillin"]] * n,
    }


def _call(fn, texts: list[str], **columns) -> list[float | None]:
    return fn(prompts=["q"] * len(texts), completions=texts, **(columns or _columns(len(texts))))


def _named(specs: list[RewardSpec], scorer: RewardScorer, log: RewardLog | None = None) -> dict:
    functions, _ = build_reward_functions(specs, scorer, log)
    return {f.__name__: f for f in functions}


def test_truthfulness_reward_reads_the_judges_grade() -> None:
    functions = _named([RewardSpec(name="format"), RewardSpec(name="truthfulness")], _scorer())
    texts = [_completion("Alexander Fleming"), _completion("Louis Pasteur"), _completion("I don't know."), "no tags"]
    assert _call(functions["truthfulness"], texts) == [1.0, -1.0, 0.0, -1.0]


def test_truthfulness_gives_no_signal_when_the_judge_fails() -> None:
    scorer = _scorer()
    scorer.judge = SimpleNamespace(grade_many=lambda items: [None] * len(items), stats=scorer.judge.stats)
    functions = _named([RewardSpec(name="truthfulness")], scorer)
    assert _call(functions["truthfulness"], [_completion("Alexander Fleming"), "no tags"]) == [None, -1.0]


def test_binary_rar_checks_the_answers_claims_against_every_retrieved_passage() -> None:
    scorer = _scorer()
    wrong_claim = answer_claim(QUESTION, "Louis Pasteur")
    right_claim = answer_claim(QUESTION, "Alexander Fleming")
    wrong_year = "Alexander Fleming discovered penicillin in 1931."
    checker = TableChecker(
        {
            (FLEMING, wrong_claim): 0.9,  # the first passage contradicts the wrong answer
            ("Penicillin is an antibiotic.", wrong_year): 0.6,  # only the second passage contradicts this one
            (FLEMING, right_claim): 0.1,
        }
    )
    log = RewardLog()
    functions = _named([RewardSpec(name="binary_rar", contradiction_threshold=0.5)], scorer, log)
    functions["binary_rar"].bound["checker"] = checker
    texts = [
        _completion("Alexander Fleming"),  # a short answer: checked as its question + the answer
        _completion("Louis Pasteur"),
        _completion(wrong_year),  # a sentence: the extractor's facts are the claims
        _completion("I don't know."),  # contradicts nothing
        "no tags",  # no answer: the paper scores an unparseable response 0
    ]
    assert _call(functions["binary_rar"], texts) == [1.0, 0.0, 0.0, 1.0, 0.0]
    assert (FLEMING, right_claim) in checker.asked and (FLEMING, wrong_year) in checker.asked
    assert not any("know" in claim for _, claim in checker.asked)  # an abstention is never checked
    assert scorer.store.queries[0] == f"Penicillin {QUESTION} Alexander Fleming"  # the topic, then the claim
    assert log.family_rows[-1]["rar_abstained_rate"] == pytest.approx(0.2)
    assert log.rows and log.rows[-1]["refusal_rate"] == pytest.approx(0.2)  # it logs the step's monitors too
    # Memoised: the same completions are not checked again; the threshold is applied on the stored probabilities.
    asked = len(checker.asked)
    stricter = _named([RewardSpec(name="binary_rar", contradiction_threshold=0.95)], scorer)["binary_rar"]
    stricter.bound["checker"] = checker
    assert _call(stricter, texts) == [1.0, 1.0, 1.0, 1.0, 0.0] and len(checker.asked) == asked


def test_binary_rar_without_evidence_or_with_a_failed_verifier() -> None:
    scorer = _scorer({"Penicillin": [FLEMING]})
    functions = _named([RewardSpec(name="binary_rar")], scorer)
    functions["binary_rar"].bound["checker"] = TableChecker({(FLEMING, answer_claim(QUESTION, "Pasteur")): None})
    # A question none of whose titles is in the store: nothing can contradict the answer.
    assert _call(functions["binary_rar"], [_completion("Louis Pasteur")], **_columns(1, ["Unknown page"])) == [1.0]
    assert _call(functions["binary_rar"], [_completion("Pasteur")]) == [0.0]  # the verifier failed: 0, as the paper


def test_binary_rar_default_threshold_and_the_lexical_stand_in() -> None:
    scorer = _scorer()
    reward = _named([RewardSpec(name="binary_rar")], scorer)["binary_rar"]
    assert reward.bound["threshold"] == 0.5 and isinstance(reward.bound["checker"], LexicalContradiction)
    texts = [_completion("Alexander Fleming discovered penicillin in 1931."), _completion("He found it in 1928.")]
    assert _call(reward, texts) == [0.0, 1.0]  # a different year on the passage's subject; the right year


def test_lexical_contradiction_needs_the_same_subject_and_a_different_number() -> None:
    check = LexicalContradiction(0.6)
    assert check.probability("Alexander Fleming discovered penicillin in 1931.", FLEMING) == 1.0
    assert check.probability("Alexander Fleming discovered penicillin in 1928.", FLEMING) == 0.0
    assert check.probability("Alexander Fleming discovered penicillin.", FLEMING) == 0.0  # no number stated
    assert check.probability("Paris was founded in 1931.", FLEMING) == 0.0  # another subject


def test_calibration_reward_reads_the_grade_and_the_stated_confidence() -> None:
    log = RewardLog()
    functions = _named([RewardSpec(name="format"), RewardSpec(name="calibration")], _scorer(), log)
    texts = [
        _completion("Alexander Fleming", "0.8"),  # 1 - 0.04
        _completion("Louis Pasteur", "0.8"),  # -0.64
        _completion("Louis Pasteur", "0.1"),  # -0.01
        _completion("Alexander Fleming"),  # no tag: q = 0.5, 1 - 0.25
        _completion("I don't know.", "0"),  # an abstention is not correct: 0 - 0
        "no tags",  # no answer, q = 0.5: -0.25
    ]
    assert _call(functions["calibration"], texts) == pytest.approx([0.96, -0.64, -0.01, 0.75, 0.0, -0.25])
    assert log.family_rows[-1]["confidence_missing"] == 2.0
    # The format reward accepts the tag because calibration is on.
    assert _call(functions["format"], texts) == [1.0, 1.0, 1.0, 1.0, 1.0, -1.0]
    plain = _named([RewardSpec(name="format")], _scorer())["format"]
    assert _call(plain, texts[:1]) == [-1.0]  # without calibration, anything after </answer> breaks the format


def test_options_and_rules_are_checked() -> None:
    from knowrl.train.config import GRPOStageConfig

    with pytest.raises(ValueError, match="contradiction_threshold is an option of reward binary_rar, not of 'format'"):
        RewardSpec(name="format", contradiction_threshold=0.5)
    with pytest.raises(ValueError, match=r"set reward_rules: '2025-10'"):
        GRPOStageConfig(rewards=[{"name": "truthfulness"}], reward_rules="2025-06")
    with pytest.raises(ValueError, match="multi_objective_aggregation='normalise' is not one of TRL's"):
        GRPOStageConfig(multi_objective_aggregation="normalise")
    scorer = _scorer()
    scorer.rules = "2025-06"
    with pytest.raises(ConfigError, match="reward calibration reads the judge's grade"):
        build_reward_functions([RewardSpec(name="calibration")], scorer)
    scorer = _scorer()
    scorer.verifier = SimpleNamespace(entailment_many=None)
    with pytest.raises(ConfigError, match="binary_rar needs P\\(contradiction\\).*backend to nli"):
        build_reward_functions([RewardSpec(name="binary_rar")], scorer)


def test_contradiction_label_comes_from_the_config() -> None:
    assert contradiction_index({0: "entailment", 1: "neutral", 2: "contradiction"}) == 2
    assert contradiction_index({0: "CONTRADICTION", 1: "NEUTRAL", 2: "ENTAILMENT"}) == 0
    with pytest.raises(ConfigError, match="no 'contradiction' class"):
        contradiction_index({0: "LABEL_0", 1: "LABEL_1"})


def test_nli_contradiction_probability_is_batched_and_cached(tmp_path: Path, ctx) -> None:
    from knowrl.judges.nli import NLIVerifier

    model = build_tiny_nli(tmp_path / "nli", entailment_bias=1.0)  # P(contradiction) = 1 / (2 + e) for any pair
    cache = LLMCache(ctx.warehouse)
    verifier = NLIVerifier(VerifierConfig(backend="nli", batch_size=2), cache, model_path=model)
    check = NLIContradiction(verifier)
    assert check.index == 0
    pairs = [(FLEMING, f"fact {i}") for i in range(3)]
    assert check(pairs) == pytest.approx([1 / (2 + math.e)] * 3, abs=1e-4)
    assert check.stats.calls == 2
    again = NLIContradiction(NLIVerifier(VerifierConfig(backend="nli", batch_size=2), cache, model_path=model))
    assert again(pairs) == pytest.approx([1 / (2 + math.e)] * 3, abs=1e-4) and again.stats.calls == 0
    # The entailment path is untouched: P(entailment) = e / (2 + e).
    assert verifier.entailment_many([("fact 0", [FLEMING])]) == pytest.approx([math.e / (2 + math.e)], abs=1e-4)
