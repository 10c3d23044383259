"""Prompt styles, rendered by a DeepSeek-R1-Distill-like tokenizer (its BOS, its `<think>` generation prompt) and by
the demo's ChatML one."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from knowrl.method.prompts import (
    FORMAT_INSTRUCTION,
    PREFILL,
    SYSTEM_PROMPT,
    adds_bos,
    prompt_conversation,
    render_prompt,
    training_prompt,
)

BOS, USER, ASSISTANT = "<｜begin▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>"
Q = "Who discovered penicillin?"


@pytest.fixture(scope="module")
def r1(tiny_r1_dir: Path):
    return AutoTokenizer.from_pretrained(tiny_r1_dir)


def test_each_style_renders_the_authors_layout_with_an_r1_template(r1) -> None:
    assert render_prompt(r1, Q, "system") == f"{BOS}{SYSTEM_PROMPT}{USER}{Q}{ASSISTANT}<think>\n"
    assert render_prompt(r1, Q, "user") == f"{BOS}{USER}{Q}{ASSISTANT}<think>\n"  # the model card's usage
    # June 2025 and v1.0.0: instruction after the question, the answer started for the model, open at <think>.
    assert render_prompt(r1, Q, "user_prefill") == f"{BOS}{USER}{Q}\n\n{FORMAT_INSTRUCTION}{ASSISTANT}{PREFILL}"
    assert PREFILL.endswith("<think>")
    # November 2025, as their code renders it: no assistant header after the question.
    assert render_prompt(r1, Q, "system_continue") == f"{BOS}{SYSTEM_PROMPT}{USER}{Q}"


def test_a_string_prompt_leaves_the_bos_to_the_tokenizer(r1) -> None:
    """TRL tokenizes a string prompt with special tokens: the string must not carry the template's BOS too."""
    assert adds_bos(r1) == BOS
    prompt = training_prompt(r1, Q, "user_prefill")
    assert isinstance(prompt, str) and not prompt.startswith(BOS)
    ids = r1(prompt)["input_ids"]
    assert ids.count(r1.bos_token_id) == 1 and ids[0] == r1.bos_token_id
    assert r1.decode(ids) == render_prompt(r1, Q, "user_prefill")  # what the model sees: the template's text
    # The conversational styles stay conversations: TRL renders them with the generation prompt.
    assert training_prompt(r1, Q, "system") == prompt_conversation(Q, "system")[0]


def test_a_chatml_tokenizer_without_a_bos_keeps_the_whole_string(tiny_model_dir: Path) -> None:
    chatml = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert adds_bos(chatml) is None
    assert training_prompt(chatml, Q, "user_prefill") == render_prompt(chatml, Q, "user_prefill")
    assert render_prompt(chatml, Q, "user_prefill").endswith(f"<|im_start|>assistant\n{PREFILL}")


def test_an_unknown_style_is_named() -> None:
    with pytest.raises(ValueError, match="unknown prompt style 'chat'; styles are system, user"):
        prompt_conversation(Q, "chat")
