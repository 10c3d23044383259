"""The method's prompts (our wording of the authors' instructions) and how a question becomes a model's prompt.

The refusal string is the one the model is trained to give, character for character: the system prompt,
the cold-start data, refusal matching and the model card all use `REFUSAL`.

A prompt style says how a question is laid out for a chat model (`grpo.prompt_style`, `evaluate.prompt_style`):
- `system`: the method's instruction as a system turn, the question as a user turn, then the template's generation
  prompt (a conversation; TRL renders it);
- `user`: the question alone as a user turn, then the generation prompt: how the published model's card prompts it;
- `user_prefill`: the authors' June 2025 and v1.0.0 `train/main.py`: the question and a format instruction in the
  user turn, and an assistant turn prefilled with a short commitment that opens `<think>`, rendered with
  `continue_final_message` (the completion continues the reasoning);
- `system_continue`: the authors' November 2025 `train/main.py`: the instruction as a system turn and the question
  as a user turn, rendered with `continue_final_message`: the prompt ends right after the question, with no
  assistant header (reproduced as their code renders it; `system` is the same prompt with the header).
The last two are pre-rendered strings; a tokenizer that adds a BOS itself gets the string without the template's
BOS (TRL tokenizes string prompts with special tokens, and a second BOS would be a prompt the model never saw).
"""

from __future__ import annotations

from typing import Any, Literal

REFUSAL = "I don't know."

SYSTEM_PROMPT = (
    "Answer the question in this format. First reason step by step inside <think> </think>, checking each fact "
    "you use against what you know. Then give the final answer inside <answer> </answer>. If you genuinely do "
    f"not know the answer, reply exactly with: {REFUSAL}"
)

# The user turn's instruction of `user_prefill` (the authors' put the format, an example and a one-tag-per-line rule
# after the question, and no refusal option there).
FORMAT_INSTRUCTION = (
    "Answer in two steps.\n"
    "1. Reason step by step inside <think> and </think>.\n"
    "2. Give your final answer inside <answer> and </answer>.\n"
    "Use this layout:\n"
    "<think>\n"
    "your step-by-step reasoning\n"
    "</think>\n"
    "<answer>\n"
    "your final answer\n"
    "</answer>\n"
    "Write each tag on a line of its own."
)
PREFILL = "I will reason step by step in the required format and then answer.\n\n<think>"

PromptStyle = Literal["system", "user", "user_prefill", "system_continue"]
PROMPT_STYLES: tuple[str, ...] = ("system", "user", "user_prefill", "system_continue")
Conversation = list[dict[str, str]]


def chat_messages(question: str, system_prompt: str = SYSTEM_PROMPT) -> Conversation:
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": question}]


def prompt_conversation(question: str, style: str) -> tuple[Conversation, bool]:
    """The turns of a style's prompt, and whether its last turn stays open (`continue_final_message`) instead of
    getting the template's generation prompt."""
    if style == "system":
        return chat_messages(question), False
    if style == "user":
        return [{"role": "user", "content": question}], False
    if style == "user_prefill":
        user = {"role": "user", "content": f"{question}\n\n{FORMAT_INSTRUCTION}"}
        return [user, {"role": "assistant", "content": PREFILL}], True
    if style == "system_continue":
        return chat_messages(question), True
    raise ValueError(f"unknown prompt style {style!r}; styles are {', '.join(PROMPT_STYLES)}")


def render_prompt(tokenizer: Any, question: str, style: str) -> str:
    """The prompt as text, exactly as the model sees it (the template's BOS included, if it writes one)."""
    messages, open_turn = prompt_conversation(question, style)
    if open_turn:
        return tokenizer.apply_chat_template(messages, tokenize=False, continue_final_message=True)
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def adds_bos(tokenizer: Any) -> str | None:
    """The BOS text a tokenizer prepends on its own when it encodes a string, or None."""
    bos = getattr(tokenizer, "bos_token", None)
    if not bos or tokenizer.bos_token_id is None:
        return None
    ids = tokenizer("x")["input_ids"]
    return bos if ids and ids[0] == tokenizer.bos_token_id else None


def training_prompt(tokenizer: Any, question: str, style: str) -> str | Conversation:
    """What a GRPO row's `prompt` holds: a conversation TRL renders (with the generation prompt), or, for the styles
    that keep the last turn open, the rendered string without a BOS the tokenizer adds itself."""
    messages, open_turn = prompt_conversation(question, style)
    if not open_turn:
        return messages
    text = render_prompt(tokenizer, question, style)
    bos = adds_bos(tokenizer)
    return text.removeprefix(bos) if bos else text
