"""Sample completions for a few prompts and measure the share in the `<think>`/`<answer>` format."""

from __future__ import annotations

from typing import Any

from knowrl.method.parsing import is_well_formed
from knowrl.method.prompts import chat_messages
from knowrl.models.generation import chat_prompts, generate_batched


def format_share(model: Any, tokenizer: Any, questions: list[str], max_new_tokens: int, seed: int = 0) -> float:
    """Share of sampled completions (temperature 1, one per question) that are well formed."""
    import torch

    if not questions:
        return 0.0
    torch.manual_seed(seed)
    prompts = chat_prompts(tokenizer, [chat_messages(q) for q in questions])
    texts = generate_batched(model, tokenizer, prompts, max_new_tokens, len(prompts), do_sample=True)
    return sum(is_well_formed(t) for t in texts) / len(texts)
