"""The KnowRL output format: the system prompt the model is trained with, and how completions are read."""

from knowrl.method.parsing import FinalAnswer, RewardView, completion_text, final_answer, reward_view
from knowrl.method.prompts import REFUSAL, SYSTEM_PROMPT, chat_messages

__all__ = [
    "REFUSAL",
    "SYSTEM_PROMPT",
    "FinalAnswer",
    "RewardView",
    "chat_messages",
    "completion_text",
    "final_answer",
    "reward_view",
]
