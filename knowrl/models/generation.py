"""Batched generation with a causal LM: chat prompts, left padding, greedy or sampled, new text only.

The one place that pads, generates and decodes, shared by evaluation, the SFT format probe and the
Hugging Face judge and extractor backends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def chat_prompts(tokenizer: Any, conversations: list[list[dict[str, str]]]) -> list[str]:
    return [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]


def generate_batched(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    max_new_tokens: int,
    batch_size: int,
    *,
    do_sample: bool = False,
    temperature: float = 1.0,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """The completion of each prompt (prompt text excluded), generated in left-padded batches."""
    import torch

    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # generation appends on the right: pads must be on the left
    was_training = model.training
    model.eval()
    outputs: list[str] = []
    try:
        for start in range(0, len(prompts), batch_size):
            chunk = prompts[start : start + batch_size]
            enc = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
            sampling = {"do_sample": True, "temperature": temperature} if do_sample else {"do_sample": False}
            with torch.inference_mode():
                out = model.generate(
                    **enc, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id, **sampling
                )
            outputs.extend(tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True))
            if progress:
                progress(len(outputs))
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return outputs


def load_causal_lm(path: Any, dtype: str | None = None) -> tuple[Any, Any]:
    """Model (on the GPU when there is one, in eval mode) and tokenizer with a pad token."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    device = "cuda" if torch.cuda.is_available() else "cpu"
    kwargs = {"dtype": getattr(torch, dtype)} if dtype else {}
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs).to(device).eval()
    return model, tokenizer
