"""Greedy generation for evaluation: one model loaded once, then every benchmark's prompts in batches.

vLLM on GPU when configured and installed; transformers `generate` with left padding otherwise.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

from knowrl.models.generation import chat_prompts, generate_batched, load_causal_lm

Conversation = list[dict[str, str]]


class Generator:
    """Loads the model on first use and keeps it for the following benchmarks."""

    def __init__(self, model_path: Path, use_vllm: bool) -> None:
        self.model_path = model_path
        self.use_vllm = use_vllm and importlib.util.find_spec("vllm") is not None
        self._loaded: Any = None

    def generate(
        self,
        conversations: list[Conversation],
        max_new_tokens: int,
        batch_size: int,
        progress: Callable[[int], None] | None = None,
    ) -> list[str]:
        if self.use_vllm:
            from vllm import LLM, SamplingParams

            self._loaded = self._loaded or LLM(model=str(self.model_path))
            prompts = chat_prompts(self._loaded.get_tokenizer(), conversations)
            outputs = self._loaded.generate(prompts, SamplingParams(temperature=0.0, max_tokens=max_new_tokens))
            return [o.outputs[0].text for o in outputs]
        self._loaded = self._loaded or load_causal_lm(self.model_path)
        model, tokenizer = self._loaded
        prompts = chat_prompts(tokenizer, conversations)
        return generate_batched(model, tokenizer, prompts, max_new_tokens, batch_size, progress=progress)
