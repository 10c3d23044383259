"""Batched greedy generation with the chat template and the method's system prompt.

vLLM on GPU when configured and installed; transformers `generate` with left padding otherwise.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

from knowrl.method.prompts import chat_messages


def _prompts(tokenizer: object, questions: list[str]) -> list[str]:
    return [
        tokenizer.apply_chat_template(chat_messages(q), tokenize=False, add_generation_prompt=True) for q in questions
    ]


def generate_vllm(model_path: Path, questions: list[str], max_new_tokens: int) -> list[str]:
    from vllm import LLM, SamplingParams

    llm = LLM(model=str(model_path))
    prompts = _prompts(llm.get_tokenizer(), questions)
    outputs = llm.generate(prompts, SamplingParams(temperature=0.0, max_tokens=max_new_tokens))
    return [o.outputs[0].text for o in outputs]


class HFGenerator:
    """Loads a model once; `generate` runs greedy decoding in left-padded batches."""

    def __init__(self, model_path: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_path, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = AutoModelForCausalLM.from_pretrained(model_path).to(device).eval()
        self._torch = torch

    def generate(
        self,
        questions: list[str],
        max_new_tokens: int,
        batch_size: int,
        progress: Callable[[int], None] | None = None,
    ) -> list[str]:
        prompts = _prompts(self.tokenizer, questions)
        outputs: list[str] = []
        for start in range(0, len(prompts), batch_size):
            chunk = prompts[start : start + batch_size]
            enc = self.tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(
                self.model.device
            )
            with self._torch.inference_mode():
                out = self.model.generate(
                    **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=self.tokenizer.pad_token_id
                )
            outputs.extend(self.tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True))
            if progress:
                progress(len(outputs))
        return outputs


def generate(
    model_path: Path,
    questions: list[str],
    max_new_tokens: int,
    batch_size: int,
    use_vllm: bool,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    if use_vllm and importlib.util.find_spec("vllm") is not None:
        return generate_vllm(model_path, questions, max_new_tokens)
    return HFGenerator(model_path).generate(questions, max_new_tokens, batch_size, progress)
