"""Reward functions with TRL's contract, over the demo knowledge store, with offline and HTTP backends."""

from __future__ import annotations

import pytest

from knowrl.config.backends import EndpointConfig, ExtractorConfig, JudgeConfig, VerifierConfig
from knowrl.config.stages import RewardSpec
from knowrl.judges import build_extractor, build_judge, build_verifier
from knowrl.knowledge.stage import open_store
from knowrl.rewards import RewardScorer, build_reward_functions
from knowrl.rewards.registry import RewardLog
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
        endpoint = EndpointConfig(base_url=server.base_url, max_retries=1, backoff_s=0.01)
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
        endpoint = EndpointConfig(base_url=server.base_url, backoff_s=0.01)
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
