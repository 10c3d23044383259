"""Generation for evaluation: one model loaded once, then every benchmark's prompts in batches, greedy or sampled.

A question is rendered with the model's own tokenizer in the prompt style the model is evaluated with
(knowrl/method/prompts.py). vLLM on GPU when configured and installed; transformers `generate` with left padding
otherwise. Each generation says whether it stopped at the length limit (a truncated answer, counted per model).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

from knowrl.method.prompts import render_prompt
from knowrl.models.generation import Generation, generate_batched, load_causal_lm


class Generator:
    """Loads the model on first use and keeps it for the following benchmarks."""

    def __init__(self, model_path: Path, use_vllm: bool) -> None:
        self.model_path = model_path
        self.use_vllm = use_vllm and importlib.util.find_spec("vllm") is not None
        self._loaded: Any = None

    def _tokenizer(self) -> Any:
        if self.use_vllm:
            from vllm import LLM

            self._loaded = self._loaded or LLM(model=str(self.model_path))
            return self._loaded.get_tokenizer()
        self._loaded = self._loaded or load_causal_lm(self.model_path)
        return self._loaded[1]

    def generate(
        self,
        questions: list[str],
        style: str,
        max_new_tokens: int,
        batch_size: int,
        *,
        temperature: float = 0.0,
        top_p: float = 1.0,
        progress: Callable[[int], None] | None = None,
    ) -> list[Generation]:
        """One generation per question (greedy at temperature 0, else sampled)."""
        tokenizer = self._tokenizer()
        prompts = [render_prompt(tokenizer, q, style) for q in questions]
        if self.use_vllm:
            from vllm import SamplingParams

            params = SamplingParams(temperature=temperature, top_p=top_p, max_tokens=max_new_tokens)
            # Token ids, not text: the rendered prompt holds the template's BOS, and vLLM would add another one.
            encoded = [{"prompt_token_ids": tokenizer(p, add_special_tokens=False)["input_ids"]} for p in prompts]
            outputs = self._loaded.generate(encoded, params)
            return [
                Generation(o.outputs[0].text, len(o.outputs[0].token_ids), o.outputs[0].finish_reason == "length")
                for o in outputs
            ]
        model, tokenizer = self._loaded
        return generate_batched(
            model,
            tokenizer,
            prompts,
            max_new_tokens,
            batch_size,
            do_sample=temperature > 0,
            temperature=temperature or 1.0,
            top_p=top_p,
            progress=progress,
        )
