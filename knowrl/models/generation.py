"""Batched generation with a causal LM: chat prompts, left padding, greedy or sampled, new text only.

The one place that pads, generates and decodes, shared by evaluation, the SFT format probe and the
Hugging Face judge and extractor backends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def chat_prompts(tokenizer: Any, conversations: list[list[dict[str, str]]]) -> list[str]:
    return [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]


@dataclass(frozen=True)
class Generation:
    """One completion: its text (prompt excluded, special tokens dropped), its length in tokens, and whether it
    stopped at `max_new_tokens` instead of an end token (a truncated answer is usually graded wrong)."""

    text: str
    n_tokens: int
    truncated: bool


def generate_batched(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    max_new_tokens: int,
    batch_size: int,
    *,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    progress: Callable[[int], None] | None = None,
) -> list[Generation]:
    """The completion of each prompt, generated in left-padded batches (greedy, or sampled with `temperature` and
    `top_p`)."""
    import torch

    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # generation appends on the right: pads must be on the left
    was_training = model.training
    model.eval()
    stop_ids = _stop_ids(model, tokenizer)
    outputs: list[Generation] = []
    try:
        for start in range(0, len(prompts), batch_size):
            chunk = prompts[start : start + batch_size]
            enc = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
            sampling = {"temperature": temperature, "top_p": top_p} if do_sample else {}
            with torch.inference_mode():
                out = model.generate(
                    **enc,
                    max_new_tokens=max_new_tokens,
                    pad_token_id=tokenizer.pad_token_id,
                    do_sample=do_sample,
                    **sampling,
                )
            new = out[:, enc["input_ids"].shape[1] :].tolist()
            for ids in new:
                ended = next((i for i, token in enumerate(ids) if token in stop_ids), None)
                kept = ids if ended is None else ids[: ended + 1]
                text = tokenizer.decode(kept, skip_special_tokens=True)
                outputs.append(Generation(text, len(kept), ended is None and len(ids) >= max_new_tokens))
            if progress:
                progress(len(outputs))
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return outputs


def _stop_ids(model: Any, tokenizer: Any) -> set[int]:
    """The token ids that end a generation: the generation config's EOS ids, else the tokenizer's."""
    configured = getattr(model.generation_config, "eos_token_id", None)
    ids = configured if isinstance(configured, list) else [configured]
    ids = [i for i in ids if i is not None] or [tokenizer.eos_token_id]
    return {int(i) for i in ids if i is not None}


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
