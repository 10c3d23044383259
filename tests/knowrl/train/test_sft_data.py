"""The cold start's loss mask covers the assistant's whole text, reasoning included, for any chat template: one that
drops the reasoning and has no generation markers (DeepSeek-R1-Distill's), ChatML rendered by us (the authors'
LLaMA-Factory `qwen` template), and the demo's template with generation markers (where TRL's own mask must agree)."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from knowrl.method.prompts import SYSTEM_PROMPT
from knowrl.train.config import SFTStageConfig
from knowrl.train.sft_data import CHATML_DEFAULT_SYSTEM, template_use, tokenized_example

Q = "Who discovered penicillin?"
REASONING = "The question is about penicillin. Alexander Fleming discovered it in 1928."
RESPONSE = f"<think>\n{REASONING}\n</think>\n<answer>Alexander Fleming</answer>"


def _cfg(**kw) -> SFTStageConfig:
    return SFTStageConfig(base_model="x", **kw)


def _masked(tokenizer, example: dict) -> str:
    ids = [i for i, m in zip(example["input_ids"], example["assistant_masks"], strict=True) if m]
    return tokenizer.decode(ids)


def _unmasked(tokenizer, example: dict) -> str:
    ids = [i for i, m in zip(example["input_ids"], example["assistant_masks"], strict=True) if not m]
    return tokenizer.decode(ids)


@pytest.fixture(scope="module")
def r1(tiny_r1_dir: Path):
    return AutoTokenizer.from_pretrained(tiny_r1_dir)


def test_an_r1_template_is_masked_by_us_and_keeps_the_reasoning(r1) -> None:
    cfg = _cfg(system_prompt="none")
    use = template_use(r1, cfg)
    assert not use.template_keeps_reasoning and not use.template_has_generation_markers
    assert (use.opened_by_generation_prompt, use.turn_end) == ("<think>\n", "<｜end▁of▁sentence｜>")
    example = tokenized_example(r1, Q, RESPONSE, cfg, use)
    # The loss covers the reasoning and the answer; the <think> the generation prompt opened is in the prompt.
    assert _masked(r1, example) == f"{REASONING}\n</think>\n<answer>Alexander Fleming</answer><｜end▁of▁sentence｜>"
    assert _unmasked(r1, example) == f"<｜begin▁of▁sentence｜><｜User｜>{Q}<｜Assistant｜><think>\n"
    assert example["input_ids"].count(r1.bos_token_id) == 1  # the template's BOS only


def test_chatml_as_llama_factory_renders_it(r1) -> None:
    cfg = _cfg(chat_template="chatml", system_prompt="default")
    use = template_use(r1, cfg)
    assert use.chat_template == "chatml" and use.system == CHATML_DEFAULT_SYSTEM
    example = tokenized_example(r1, Q, RESPONSE, cfg, use)
    assert _masked(r1, example) == f"{RESPONSE}<|im_end|>\n"
    assert _unmasked(r1, example) == (
        f"<|im_start|>system\n{CHATML_DEFAULT_SYSTEM}<|im_end|>\n<|im_start|>user\n{Q}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    no_system = tokenized_example(r1, Q, RESPONSE, _cfg(chat_template="chatml", system_prompt="none"), use)
    assert _unmasked(r1, no_system).startswith("<|im_start|>user\n")


def test_our_mask_equals_the_templates_own_where_it_has_generation_markers(tiny_model_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    cfg = _cfg(system_prompt="method")
    use = template_use(tokenizer, cfg)
    assert use.template_keeps_reasoning and use.template_has_generation_markers
    example = tokenized_example(tokenizer, Q, RESPONSE, cfg, use)
    conversation = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": Q},
        {"role": "assistant", "content": RESPONSE},
    ]
    theirs = tokenizer.apply_chat_template(
        conversation, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    # The template writes a newline after the turn's end token, outside its mask: ours ends at that token.
    n = len(example["input_ids"])
    assert example["input_ids"] == theirs["input_ids"][:n] and len(theirs["input_ids"]) == n + 1
    assert example["assistant_masks"] == theirs["assistant_masks"][:n] and sum(example["assistant_masks"]) > 10
