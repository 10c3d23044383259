"""Sample completions for a few prompts and measure the share in the `<think>`/`<answer>` format."""

from __future__ import annotations

from typing import Any

from knowrl.method.parsing import is_well_formed
from knowrl.models.generation import generate_batched


def format_share(model: Any, tokenizer: Any, prompts: list[str], max_new_tokens: int, seed: int = 0) -> float:
    """Share of sampled completions (temperature 1, one per rendered prompt) that are well formed (the format rule
    prepends a `<think>` the prompt already opened)."""
    import torch

    if not prompts:
        return 0.0
    torch.manual_seed(seed)
    texts = [g.text for g in generate_batched(model, tokenizer, prompts, max_new_tokens, len(prompts), do_sample=True)]
    return sum(is_well_formed(t) for t in texts) / len(texts)
