"""The system prompt of the method (our wording of the paper's instruction) and the chat layout.

The refusal string is the one the model is trained to give, character for character: the system prompt,
the cold-start data, refusal matching and the model card all use `REFUSAL`.
"""

from __future__ import annotations

REFUSAL = "I don't know."

SYSTEM_PROMPT = (
    "Answer the question in this format. First reason step by step inside <think> </think>, checking each fact "
    "you use against what you know. Then give the final answer inside <answer> </answer>. If you genuinely do "
    f"not know the answer, reply exactly with: {REFUSAL}"
)


def chat_messages(question: str, system_prompt: str = SYSTEM_PROMPT) -> list[dict[str, str]]:
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": question}]
