"""The KnowRL output format: the system prompt the model is trained with, and parsing of its answers."""

from knowrl.method.parsing import ParsedCompletion, completion_text, parse_completion
from knowrl.method.prompts import REFUSAL, SYSTEM_PROMPT, chat_messages

__all__ = ["REFUSAL", "SYSTEM_PROMPT", "ParsedCompletion", "chat_messages", "completion_text", "parse_completion"]
