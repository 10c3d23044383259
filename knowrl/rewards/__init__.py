"""KnowRL rewards with the TRL contract `fn(prompts, completions, **columns) -> list[float | None]`."""

from knowrl.rewards.arithmetic import (
    CORRECTNESS_SCORES,
    combined_score,
    correctness_score,
    factuality_score,
    length_penalty,
)
from knowrl.rewards.registry import REWARD_FUNCTIONS, build_reward_functions, check_reward_names
from knowrl.rewards.scorer import RewardParts, RewardScorer

__all__ = [
    "CORRECTNESS_SCORES",
    "REWARD_FUNCTIONS",
    "RewardParts",
    "RewardScorer",
    "build_reward_functions",
    "check_reward_names",
    "combined_score",
    "correctness_score",
    "factuality_score",
    "length_penalty",
]
