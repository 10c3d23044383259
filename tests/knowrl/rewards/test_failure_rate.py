"""GRPO aborts when the judge's or extractor's failure rate over a window of recent calls exceeds the limit."""

from __future__ import annotations

import pytest

from knowrl.config.backends import EndpointConfig, ExtractorConfig, JudgeConfig, VerifierConfig
from knowrl.errors import JudgeFailureRateError
from knowrl.judges import build_extractor, build_judge, build_verifier
from knowrl.knowledge.stage import open_store
from knowrl.rewards import RewardScorer
from knowrl.rewards.scorer import Question
from knowrl.train.config import GRPOStageConfig
from knowrl.train.grpo import build_scorer
from tests.support.openai_server import Script, ScriptedOpenAIServer, knowrl_responder

QUESTION = Question("Who discovered penicillin?", ("Alexander Fleming",), ("Penicillin",), "Penicillin")


def _completions(n: int) -> list[str]:
    return [
        f"<think>\nPenicillin was discovered by Fleming in {1900 + i}.\n</think>\n<answer>Fleming {i}</answer>"
        for i in range(n)
    ]


def _scorer(ctx, knowledge_ref, judge_endpoint=None, extractor_endpoint=None, window: int = 4) -> RewardScorer:
    judge = JudgeConfig(backend="openai", endpoint=judge_endpoint) if judge_endpoint else JudgeConfig()
    extractor = (
        ExtractorConfig(backend="openai", endpoint=extractor_endpoint) if extractor_endpoint else ExtractorConfig()
    )
    scorer = RewardScorer(
        build_judge(judge),
        build_extractor(extractor),
        build_verifier(VerifierConfig()),
        open_store(knowledge_ref, ctx),
    )
    scorer.failure_window = window
    return scorer


def _endpoint(server: ScriptedOpenAIServer) -> EndpointConfig:
    return EndpointConfig(base_url=server.base_url, max_retries=0, api_key_env="KNOWRL_UNSET_KEY", concurrency=1)


def test_config_fields_reach_the_scorer(ctx, demo_knowledge_ref) -> None:
    cfg = GRPOStageConfig(num_generations=2, gradient_accumulation_steps=2)
    assert (cfg.judge_failure_window, cfg.judge_max_failure_rate) == (20, 0.5)
    assert (RewardScorer.failure_window, RewardScorer.max_failure_rate) == (20, 0.5)
    tuned = cfg.model_copy(update={"judge_failure_window": 7, "judge_max_failure_rate": 0.25})
    scorer = build_scorer(tuned, demo_knowledge_ref, ctx)
    assert (scorer.failure_window, scorer.max_failure_rate) == (7, 0.25)


def test_judge_down_aborts_naming_the_endpoint_and_the_fix(ctx, demo_knowledge_ref) -> None:
    with ScriptedOpenAIServer(Script(knowrl_responder, always_fail=True, retry_after_s=0)) as server:
        scorer = _scorer(ctx, demo_knowledge_ref, judge_endpoint=_endpoint(server))
        with pytest.raises(JudgeFailureRateError) as caught:
            scorer.parts(_completions(4), [QUESTION] * 4)
    message = str(caught.value)
    assert "\n" not in message
    assert f"the judge (gpt-4o-mini at {server.base_url}) failed 4 of its last 4 calls" in message
    assert "last error: InternalServerError (HTTP 500)" in message
    assert "Check the endpoint and its key ($KNOWRL_UNSET_KEY), or raise grpo.judge_max_failure_rate" in message


def test_extractor_down_aborts(ctx, demo_knowledge_ref) -> None:
    with ScriptedOpenAIServer(Script(knowrl_responder, always_fail=True, retry_after_s=0)) as server:
        scorer = _scorer(ctx, demo_knowledge_ref, extractor_endpoint=_endpoint(server))
        with pytest.raises(
            JudgeFailureRateError,
            match=r"the extractor \(gpt-4o-mini at http://127\.0\.0\.1:\d+/v1\) failed 4 of its last 4",
        ):
            scorer.parts(_completions(4), [QUESTION] * 4)


def test_window_not_full_does_not_abort(ctx, demo_knowledge_ref) -> None:
    with ScriptedOpenAIServer(Script(knowrl_responder, always_fail=True, retry_after_s=0)) as server:
        scorer = _scorer(ctx, demo_knowledge_ref, judge_endpoint=_endpoint(server), window=20)
        parts = scorer.parts(_completions(4), [QUESTION] * 4)
    assert all(p.grade is None for p in parts)


def test_flaky_judge_under_the_limit_keeps_training(ctx, demo_knowledge_ref) -> None:
    with ScriptedOpenAIServer(Script(knowrl_responder, fail_first=2, retry_after_s=0)) as server:
        scorer = _scorer(ctx, demo_knowledge_ref, judge_endpoint=_endpoint(server))
        first = scorer.parts(_completions(4), [QUESTION] * 4)  # 2 of 4 failed: 0.5 is not over 0.5
        later = scorer.parts(_completions(8)[4:], [QUESTION] * 4)
    assert sum(p.grade is None for p in first) == 2
    assert all(p.grade is not None for p in later)
    assert scorer.judge.stats.failures == 2
