"""KnowRL rewards with the TRL contract `fn(prompts, completions, **columns) -> list[float | None]`."""

from knowrl.rewards.arithmetic import (
    CORRECTNESS_SCORES,
    combined_score,
    correctness_score,
    factuality_score,
    length_penalty,
)
from knowrl.rewards.registry import REWARDS, build_reward_functions
from knowrl.rewards.scorer import RewardParts, RewardScorer

__all__ = [
    "CORRECTNESS_SCORES",
    "REWARDS",
    "RewardParts",
    "RewardScorer",
    "build_reward_functions",
    "combined_score",
    "correctness_score",
    "factuality_score",
    "length_penalty",
]
