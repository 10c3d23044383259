from __future__ import annotations

from pathlib import Path

import pytest
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

from knowrl.method.prompts import chat_messages
from knowrl.models import ModelSourceError, resolve_model
from knowrl.models.tiny import QWEN_PRETOKENIZE


def test_pretokenizer_matches_transformers_qwen2() -> None:
    assert QWEN_PRETOKENIZE == PRETOKENIZE_REGEX


def test_tiny_model_ids_match_what_we_trained_and_chat_template_masks_assistant(tiny_model_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert type(tokenizer).__name__ == "Qwen2Tokenizer"
    raw = Tokenizer.from_file(str(tiny_model_dir / "tokenizer.json"))
    text = "<think>\nIt's 8,849 metres, café.\n</think>\n<answer>8,849</answer>"
    assert tokenizer(text)["input_ids"] == raw.encode(text).ids
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    messages = [*chat_messages("Q?"), {"role": "assistant", "content": "<think>x</think><answer>y</answer>"}]
    out = tokenizer.apply_chat_template(messages, return_assistant_tokens_mask=True, return_dict=True)
    masked = [t for t, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m]
    assert tokenizer.decode(masked) == "<think>x</think><answer>y</answer><|im_end|>"
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert 300_000 < sum(p.numel() for p in model.parameters()) < 5_000_000
    assert model.config.model_type == "qwen2"


def test_model_references(tmp_path: Path) -> None:
    with pytest.raises(ModelSourceError, match="holds no config.json"):
        resolve_model(str(tmp_path), tmp_path / "models")
    with pytest.raises(ModelSourceError, match="not an existing folder, a Hub id"):
        resolve_model("./nope", tmp_path / "models")


def test_hub_model_id_keeps_the_real_download_path(tmp_path: Path, hub_offline: None) -> None:
    with pytest.raises(ModelSourceError, match=r"deepseek-ai/DeepSeek-R1-Distill-Qwen-7B.*revision main"):
        resolve_model("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", tmp_path / "models", revision="main")
