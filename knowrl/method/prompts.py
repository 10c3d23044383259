"""The system prompt of the method (our wording of the paper's instruction) and the chat layout."""

from __future__ import annotations

REFUSAL = "I don't know."

SYSTEM_PROMPT = (
    "Answer the question. First think step by step inside <think></think>, using only facts you are sure of. "
    "Then give the final answer inside <answer></answer>. If you do not know the answer, answer exactly "
    f"{REFUSAL!r} instead of guessing."
).replace("'", "")


def chat_messages(question: str, system_prompt: str = SYSTEM_PROMPT) -> list[dict[str, str]]:
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": question}]
