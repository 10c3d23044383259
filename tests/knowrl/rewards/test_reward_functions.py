"""Reward functions with TRL's contract, over the demo knowledge store, with offline and HTTP backends."""

from __future__ import annotations

import pytest

from knowrl.config.backends import EndpointConfig, ExtractorConfig, JudgeConfig, VerifierConfig
from knowrl.judges import CallStats, build_extractor, build_judge, build_verifier
from knowrl.knowledge.stage import open_store
from knowrl.rewards import RewardScorer, build_reward_functions
from knowrl.rewards.registry import RewardLog
from knowrl.rewards.scorer import Question
from knowrl.train.config import RewardSpec
from storage.llm_cache import LLMCache
from tests.support.openai_server import Script, ScriptedOpenAIServer, knowrl_responder

GOOD = "<think>\nPenicillin was discovered by Alexander Fleming in 1928.\n</think>\n<answer>Alexander Fleming</answer>"
WRONG = "<think>\nPenicillin was discovered by Alexander Fleming.\n</think>\n<answer>Louis Pasteur</answer>"
REFUSE = "<think>\nI do not recall this.\n</think>\n<answer>I don't know.</answer>"
BROKEN = "no tags at all"
COLUMNS = {
    "question": ["Who discovered penicillin?"] * 4,
    "answers": [["Alexander Fleming"]] * 4,
    "titles": [["Penicillin"]] * 4,
}


@pytest.fixture
def scorer(ctx, demo_knowledge_ref):
    return RewardScorer(
        build_judge(JudgeConfig()),
        build_extractor(ExtractorConfig()),
        build_verifier(VerifierConfig()),
        open_store(demo_knowledge_ref, ctx),
    )


def _functions(scorer, log=None):
    specs = [RewardSpec(name=n) for n in ("format", "correctness", "factuality", "combined")]
    functions, weights = build_reward_functions(specs, scorer, log)
    return dict(zip([f.__name__ for f in functions], functions, strict=True)), weights


@pytest.mark.parametrize("conversational", [False, True])
def test_trl_signature_with_string_and_chat_completions(scorer, conversational: bool) -> None:
    functions, weights = _functions(scorer)
    texts = [GOOD, WRONG, REFUSE, BROKEN]
    completions = [[{"role": "assistant", "content": t}] for t in texts] if conversational else texts
    prompts = [[{"role": "user", "content": "q"}]] * 4 if conversational else ["q"] * 4

    def call(name: str) -> list:
        return functions[name](
            prompts=prompts, completions=completions, completion_ids=None, trainer_state=None, **COLUMNS
        )

    assert call("format") == [1.0, 1.0, 1.0, -1.0]
    assert call("correctness") == [2.0, -1.0, 1.0, -1.0]
    factuality = call("factuality")
    assert factuality[1] == pytest.approx(0.000123, abs=1e-5)  # 1 supported fact of 1: exp(1 - 10)
    combined = call("combined")
    assert combined[0] == 2.0 and combined[2] == 1.0 and combined[3] == -1.0
    assert combined[1] == pytest.approx(-1 + factuality[1])
    assert weights == [1.0] * 4


def test_parts_are_logged_for_training(scorer) -> None:
    log = RewardLog()
    functions, _ = _functions(scorer, log)
    metrics: dict[str, float] = {}
    functions["combined"](
        prompts=["q"] * 4, completions=[GOOD, WRONG, REFUSE, BROKEN], log_metric=metrics.__setitem__, **COLUMNS
    )
    row = log.rows[-1]
    assert row["format_rate"] == 0.75 and row["refusal_rate"] == 0.25 and row["correct_rate"] == 0.25
    assert row["missing_answer_rate"] == 0.25 and row["judge_failures"] == 0
    # factuality is computed where combined needs it (the two -1 cases): WRONG supported, BROKEN not
    assert metrics["knowrl/supported_share"] == 0.5 and "knowrl/facts_mean" in metrics


def test_unknown_reward_name_is_rejected(scorer) -> None:
    with pytest.raises(ValueError, match="unknown reward 'accuracy'"):
        build_reward_functions([RewardSpec(name="accuracy")], scorer)


def test_endpoint_down_gives_none_not_a_crash(ctx, demo_knowledge_ref) -> None:
    with ScriptedOpenAIServer(Script(knowrl_responder, always_fail=True)) as server:
        endpoint = EndpointConfig(base_url=server.base_url, max_retries=1, api_key_env="KNOWRL_UNSET_KEY")
        scorer = RewardScorer(
            build_judge(JudgeConfig(backend="openai", endpoint=endpoint), LLMCache(ctx.warehouse)),
            build_extractor(ExtractorConfig()),
            build_verifier(VerifierConfig()),
            open_store(demo_knowledge_ref, ctx),
        )
        log = RewardLog()
        functions, _ = _functions(scorer, log)
        rewards = functions["combined"](prompts=["q"] * 4, completions=[GOOD, WRONG, REFUSE, BROKEN], **COLUMNS)
    assert rewards[:3] == [None, None, None] and rewards[3] == -1.0  # a missing answer needs no judge
    assert log.rows[-1]["judge_failures"] == 3


def test_http_backends_score_like_the_method_and_cache(ctx, demo_knowledge_ref) -> None:
    cache = LLMCache(ctx.warehouse)
    with ScriptedOpenAIServer(Script(knowrl_responder)) as server:
        endpoint = EndpointConfig(base_url=server.base_url, api_key_env="KNOWRL_UNSET_KEY")
        make = lambda: RewardScorer(  # noqa: E731
            build_judge(JudgeConfig(backend="openai", endpoint=endpoint), cache),
            build_extractor(ExtractorConfig(backend="openai", endpoint=endpoint), cache),
            build_verifier(VerifierConfig(backend="openai", endpoint=endpoint), cache),
            open_store(demo_knowledge_ref, ctx),
        )
        functions, _ = _functions(make())
        first = functions["combined"](prompts=["q"] * 4, completions=[GOOD, WRONG, REFUSE, BROKEN], **COLUMNS)
        calls = server.stats.requests
        functions, _ = _functions(make())
        again = functions["combined"](prompts=["q"] * 4, completions=[GOOD, WRONG, REFUSE, BROKEN], **COLUMNS)
    assert first[0] == 2.0 and first[2] == 1.0 and first[1] == pytest.approx(-1 + 0.000123, abs=1e-5)
    assert again == first and server.stats.requests == calls


class RecordingStore:
    """The knowledge store, recording the queries and title scopes it is asked for."""

    def __init__(self, store) -> None:
        self.store, self.queries, self.scopes = store, [], []

    def covers(self, titles):
        return self.store.covers(titles)

    def search_batch(self, queries, titles, k):
        self.queries.extend(queries)
        self.scopes.extend(titles)
        return self.store.search_batch(queries, titles, k)


def _question(titles=("Penicillin",), topic="Penicillin") -> Question:
    return Question("Who discovered penicillin?", ("Alexander Fleming",), tuple(titles), topic)


def test_query_is_topic_and_fact_scoped_to_the_questions_titles(ctx, demo_knowledge_ref) -> None:
    store = RecordingStore(open_store(demo_knowledge_ref, ctx))
    scorer = RewardScorer(
        build_judge(JudgeConfig()), build_extractor(ExtractorConfig()), build_verifier(VerifierConfig()), store
    )
    scorer.parts([WRONG], [_question()], "all")
    assert store.queries == ["Penicillin Penicillin was discovered by Alexander Fleming."]
    assert store.scopes == [["Penicillin"]]
    fact_only = RecordingStore(store.store)
    scorer = RewardScorer(
        build_judge(JudgeConfig()),
        build_extractor(ExtractorConfig()),
        build_verifier(VerifierConfig()),
        fact_only,
        query="fact",
    )
    scorer.parts([WRONG], [_question(titles=("Penicillin", "Mould"), topic="Penicillin;Mould")], "all")
    assert fact_only.queries == ["Penicillin was discovered by Alexander Fleming."]
    assert fact_only.scopes == [["Penicillin", "Mould", "Penicillin;Mould"]]  # each title, and the whole string


def test_the_configured_threshold_decides_support(scorer) -> None:
    # 4 of the fact's 5 content words are in the passage: lexical support 0.65 on the P(entailment) scale.
    partial = "<think>Penicillin was discovered by Alexander Fleming in Scotland.</think><answer>Pasteur</answer>"
    [loose] = scorer.parts([partial], [_question()], "all")
    strict_scorer = RewardScorer(scorer.judge, scorer.extractor, scorer.verifier, scorer.store, threshold=0.7)
    [strict] = strict_scorer.parts([partial], [_question()], "all")
    assert loose.supported == [True] and strict.supported == [False] and strict.factuality == 0.0


def test_a_question_without_evidence_has_unsupported_facts(ctx, demo_knowledge_ref) -> None:
    store = RecordingStore(open_store(demo_knowledge_ref, ctx))
    scorer = RewardScorer(
        build_judge(JudgeConfig()), build_extractor(ExtractorConfig()), build_verifier(VerifierConfig()), store
    )
    log = RewardLog()
    functions, _ = _functions(scorer, log)
    rewards = functions["combined"](
        prompts=["q"],
        completions=[WRONG],
        question=["Who discovered penicillin?"],
        answers=[["Alexander Fleming"]],
        titles=[["No Such Page"]],
        topic=["No Such Page"],
    )
    assert rewards == [-1.0] and store.queries == []  # nothing to retrieve from: every fact unsupported
    assert log.rows[-1]["questions_without_evidence"] == 1


class FailingExtractor:
    def __init__(self) -> None:
        self.stats = CallStats()

    def extract_many(self, texts, on_facts=None):
        return [None] * len(texts)


def test_failed_fact_extraction_scores_factuality_zero(scorer) -> None:
    failing = RewardScorer(scorer.judge, FailingExtractor(), scorer.verifier, scorer.store)
    log = RewardLog()
    functions, _ = _functions(failing, log)
    rewards = functions["combined"](prompts=["q"] * 4, completions=[GOOD, WRONG, REFUSE, BROKEN], **COLUMNS)
    assert rewards == [2.0, -1.0, 1.0, -1.0]  # incorrect answers get -1 + 0, as the authors' code gives
    assert log.rows[-1]["fact_check_failures"] == 2


class FirstHalfThenWaitExtractor:
    """Reports the facts of the first half of the texts, then waits (up to 10 s) until the verifier has been asked
    about some before it reports the rest: a scorer that checks facts only once extraction has ended never asks."""

    def __init__(self, inner, asked) -> None:
        self.inner, self.asked, self.overlapped = inner, asked, None
        self.stats = CallStats()

    def extract_many(self, texts, on_facts=None):
        facts = self.inner.extract_many(texts)
        half = len(texts) // 2
        for i in range(half):
            on_facts(i, facts[i])
        self.overlapped = self.asked.wait(10)
        for i in range(half, len(texts)):
            on_facts(i, facts[i])
        return facts


class SignallingVerifier:
    def __init__(self, inner, asked) -> None:
        self.inner, self.asked, self.stats = inner, asked, inner.stats

    def entailment_many(self, pairs):
        if pairs:
            self.asked.set()
        return self.inner.entailment_many(pairs)


def test_facts_are_checked_while_later_extractions_are_awaited(scorer) -> None:
    import threading

    asked = threading.Event()
    extractor = FirstHalfThenWaitExtractor(scorer.extractor, asked)
    streaming = RewardScorer(scorer.judge, extractor, SignallingVerifier(scorer.verifier, asked), scorer.store)
    texts = [GOOD, WRONG, REFUSE, GOOD.replace("1928", "1929"), WRONG.replace("Fleming.", "Fleming in London.")]
    questions = [_question()] * len(texts)
    parts = streaming.parts(texts, questions, factuality_for="all")
    assert extractor.overlapped is True
    plain = RewardScorer(scorer.judge, scorer.extractor, scorer.verifier, scorer.store).parts(texts, questions)
    assert [(p.facts, p.supported, p.factuality) for p in parts] == [
        (p.facts, p.supported, p.factuality) for p in plain
    ]
    assert all(p.factuality is not None for p in parts) and parts[1].n_supported == 1
