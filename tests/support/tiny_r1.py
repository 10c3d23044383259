"""A tiny stand-in for deepseek-ai/DeepSeek-R1-Distill-Qwen-7B: the real repo's files and tokenizer properties, a
random 2-layer Qwen2, and a byte-level BPE tokenizer trained on the caller's texts.

Where the facts come from (the real repo's files as quoted in public code found with the search tools):
- File names: a Hub cache listing of the repo (`.gitattributes`, `LICENSE`, `README.md`, `config.json`, `figures/`,
  `generation_config.json`, `model-00001-of-000002.safetensors`, `model-00002-of-000002.safetensors`,
  `model.safetensors.index.json`, `tokenizer.json`, `tokenizer_config.json`). LICENSE and figures/ are left out.
- config.json: qwen2 / Qwen2ForCausalLM, `tie_word_embeddings: false`, `rope_theta: 10000`, `sliding_window: 4096`,
  `use_sliding_window: false`, `bos_token_id` = `eos_token_id` = 151643 (the end-of-sentence id), `vocab_size`
  152064 for a 151665-token tokenizer (so the embedding has unused rows, kept here by rounding up to 128), written
  by transformers 4.44. The tiny model keeps these keys with a tiny shape, float32 instead of bfloat16.
- generation_config.json: `bos_token_id` 151646 (the real BOS), `eos_token_id` 151643, `do_sample: true`,
  `temperature: 0.6`, `top_p: 0.95`.
- tokenizer_config.json (as quoted by litellm's tests and an ONNX port's notes): `add_bos_token: true`,
  `add_eos_token: false`, BOS `<｜begin▁of▁sentence｜>`, EOS and PAD `<｜end▁of▁sentence｜>`, `unk_token: null`,
  `legacy: true`, `model_max_length: 16384`, `clean_up_tokenization_spaces: false`, `tokenizer_class:
  LlamaTokenizerFast`. The chat template's first revision ends with the generation prompt `<｜Assistant｜>`, the
  later one (as TRL ships it in trl/chat_templates/deepseek_r1_distill.jinja) with `<｜Assistant｜><think>\\n`.
- tokenizer.json: Qwen2.5's byte-level BPE (NFC normaliser, Qwen's split regex then ByteLevel without prefix space,
  ByteLevel decoder), a BOS-prepending TemplateProcessing post-processor, and 22 added tokens after the BPE vocab
  in this order (`special` as listed in ADDED_TOKENS): `<｜User｜>`, `<｜Assistant｜>`, `<think>`, `</think>` are
  single non-special tokens; Qwen's `<|im_start|>`/`<|im_end|>`/`<|endoftext|>` are not in the vocabulary.

Loading: transformers 5 resolves tokenizer_class LlamaTokenizerFast with model_type qwen2 to Qwen2Tokenizer (qwen2
is in MODELS_WITH_INCORRECT_HUB_TOKENIZER_CLASS), which keeps the vocab, merges and post-processor of tokenizer.json
but installs its own NFC normaliser, split regex + ByteLevel(add_prefix_space=False) pre-tokenizer and ByteLevel
decoder. We train with exactly those (the regex imported from transformers), so the loaded ids equal the trained ones.

The chat template is our own Jinja with the real template's behaviour (tool messages aside): the last system
message's content right after the BOS, `<｜User｜>` + content per user turn, `<｜Assistant｜>` + content after its last
`</think>` + `<｜end▁of▁sentence｜>` per assistant turn, no `{% generation %}` markers. Being our own text, TRL does
not recognise it: SFTTrainer(assistant_only_loss=True) refuses it, while for the real 2025-02 template
(byte-identical to TRL's copy) TRL 1.16 silently swaps in its own training template, which keeps the reasoning.
"""

from __future__ import annotations

import json
from pathlib import Path

BOS, EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
USER, ASSISTANT = "<｜User｜>", "<｜Assistant｜>"
# (content, special) in the real tokenizer.json's order, from id 151643 on.
ADDED_TOKENS = [
    (EOS, True), (USER, False), (ASSISTANT, False), (BOS, True), ("<|EOT|>", False), ("<think>", False),
    ("</think>", False), ("<|quad_start|>", True), ("<|quad_end|>", True), ("<|vision_start|>", True),
    ("<|vision_end|>", True), ("<|vision_pad|>", True), ("<|image_pad|>", True), ("<|video_pad|>", True),
    ("<tool_call>", False), ("</tool_call>", False), ("<|fim_prefix|>", False), ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False), ("<|fim_pad|>", False), ("<|repo_name|>", False), ("<|file_sep|>", False),
]  # fmt: skip
GENERATION_PROMPTS = {"2025-01": ASSISTANT, "2025-02": ASSISTANT + "<think>\\n"}
BPE_VOCAB_SIZE = 1000
EMBED_INIT_STD = 0.1
SHARDS = ("model-00001-of-000002.safetensors", "model-00002-of-000002.safetensors")
TINY_SHAPE = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
}


def chat_template(template_revision: str = "2025-02") -> str:
    """Our R1-Distill-style template; `continue_final_message` works because content is printed unmodified (an
    assistant message without `</think>`) right before the turn's closing token."""
    return (
        "{%- set ns = namespace(system='') -%}"
        "{%- for message in messages if message['role'] == 'system' -%}{%- set ns.system = message['content'] -%}"
        "{%- endfor -%}"
        "{{- bos_token + ns.system -}}"
        "{%- for message in messages -%}"
        "{%- if message['role'] == 'user' -%}{{- '" + USER + "' + message['content'] -}}"
        "{%- elif message['role'] == 'assistant' and message['content'] is not none -%}"
        "{{- '" + ASSISTANT + "' + message['content'].split('</think>')[-1] + '" + EOS + "' -}}"
        "{%- endif -%}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- '" + GENERATION_PROMPTS[template_revision] + "' -}}{%- endif -%}"
    )


def train_tokenizer(texts: list[str]):
    """The byte-level BPE of tokenizer.json, with the components transformers' Qwen2Tokenizer installs on load."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    raw = Tokenizer(models.BPE(unk_token=None, continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False))
    raw.normalizer = normalizers.NFC()
    raw.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB_SIZE, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    raw.train_from_iterator(texts, trainer=trainer)
    for content, special in ADDED_TOKENS:  # one at a time, so the ids follow the real order
        token = AddedToken(content, special=special, normalized=False)
        (raw.add_special_tokens if special else raw.add_tokens)([token])
    bos_id = raw.token_to_id(BOS)
    raw.post_processor = processors.TemplateProcessing(
        single=f"{BOS}:0 $A:0", pair=f"{BOS}:0 $A:0 {BOS}:1 $B:1", special_tokens=[(BOS, bos_id)]
    )
    return raw


def _added(content: str) -> dict:
    flags = {"lstrip": False, "normalized": True, "rstrip": False, "single_word": False}  # as the real file has them
    return {"__type": "AddedToken", "content": content, **flags}


def build_tiny_r1(
    out: Path, texts: list[str], *, template_revision: str = "2025-02", shape: dict | None = None
) -> Path:
    """Write the tiny R1-Distill repo to `out` (see the module docstring); returns `out`. `shape` replaces the tiny
    shape (benchmarks/gpu_smoke.py builds a Qwen2.5-0.5B-shaped one: hidden 896, 24 layers)."""
    shape = shape or TINY_SHAPE
    import torch
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModelForCausalLM

    if template_revision not in GENERATION_PROMPTS:
        raise ValueError(f"template_revision must be one of {sorted(GENERATION_PROMPTS)}, not {template_revision!r}")
    out.mkdir(parents=True, exist_ok=True)
    raw = train_tokenizer(texts)
    raw.save(str(out / "tokenizer.json"))
    bos_id, eos_id = raw.token_to_id(BOS), raw.token_to_id(EOS)
    tokenizer_config = {
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": _added(BOS),
        "clean_up_tokenization_spaces": False,
        "eos_token": _added(EOS),
        "legacy": True,
        "model_max_length": 16384,
        "pad_token": _added(EOS),
        "sp_model_kwargs": {},
        "unk_token": None,
        "tokenizer_class": "LlamaTokenizerFast",
        "chat_template": chat_template(template_revision),
    }
    config = {
        "architectures": ["Qwen2ForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": eos_id,
        "eos_token_id": eos_id,
        "hidden_act": "silu",
        "initializer_range": 0.02,
        "max_position_embeddings": 131072,
        "max_window_layers": shape["num_hidden_layers"],
        "model_type": "qwen2",
        "rms_norm_eps": 1e-06,
        "rope_theta": 10000,
        "sliding_window": 4096,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "transformers_version": "4.44.0",
        "use_cache": True,
        "use_mrope": False,
        "use_sliding_window": False,
        "vocab_size": -(-raw.get_vocab_size() // 128) * 128,
        **shape,
    }
    generation_config = {
        "_from_model_config": True,
        "bos_token_id": bos_id,
        "eos_token_id": eos_id,
        "do_sample": True,
        "temperature": 0.6,
        "top_p": 0.95,
        "transformers_version": "4.39.3",
    }
    files = {
        "tokenizer_config.json": tokenizer_config,
        "config.json": config,
        "generation_config.json": generation_config,
    }
    for name, content in files.items():
        (out / name).write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "README.md").write_text(
        "---\nlicense: mit\nlibrary_name: transformers\n---\n\n# Tiny R1-Distill stand-in\n"
    )

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(out))
    with torch.no_grad():  # larger than the 0.02 init, so the untied head's logits are not near-uniform
        model.get_input_embeddings().weight.normal_(0.0, EMBED_INIT_STD)
        model.get_output_embeddings().weight.normal_(0.0, EMBED_INIT_STD)
    state = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    names = sorted(state)
    weight_map = {name: SHARDS[0] if i < len(names) // 2 else SHARDS[1] for i, name in enumerate(names)}
    for shard in SHARDS:
        save_file({n: state[n] for n in names if weight_map[n] == shard}, str(out / shard), metadata={"format": "pt"})
    index = {"metadata": {"total_size": sum(t.numel() * t.element_size() for t in state.values())}}
    index["weight_map"] = weight_map
    (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return out
