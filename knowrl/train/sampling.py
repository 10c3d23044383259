"""Sample completions for a few prompts and measure the share in the `<think>`/`<answer>` format."""

from __future__ import annotations

from typing import Any

from knowrl.method.parsing import is_well_formed
from knowrl.method.prompts import chat_messages


def format_share(model: Any, tokenizer: Any, questions: list[str], max_new_tokens: int, seed: int = 0) -> float:
    """Share of sampled completions (temperature 1, one per question) that are well formed."""
    import torch

    if not questions:
        return 0.0
    torch.manual_seed(seed)
    prompts = [
        tokenizer.apply_chat_template(chat_messages(q), tokenize=False, add_generation_prompt=True) for q in questions
    ]
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        was_training = model.training
        model.eval()
        with torch.inference_mode():
            out = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=True,
                temperature=1.0,
                pad_token_id=tokenizer.pad_token_id,
            )
        model.train(was_training)
    finally:
        tokenizer.padding_side = side
    texts = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    return sum(is_well_formed(t) for t in texts) / len(texts)
