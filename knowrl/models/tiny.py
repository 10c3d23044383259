"""Build the demo's tiny Qwen2-architecture model and a byte-level BPE tokenizer, offline.

The tokenizer is trained with the normaliser and pre-tokenizer that transformers' Qwen2Tokenizer
installs when it loads a qwen2 model, so the ids we train with are the ids it produces.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from knowrl.method.prompts import REFUSAL, SYSTEM_PROMPT

QWEN_PRETOKENIZE = (  # the split pattern of transformers' Qwen2Tokenizer
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
FORMAT_TOKENS = ["<think>", "</think>", "<answer>", "</answer>"]

# Assistant turns are wrapped in {% generation %} so TRL's assistant_only_loss can mask everything else.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def chatml(messages: list[dict[str, str]]) -> str:
    """A conversation as CHAT_TEMPLATE renders it (for pretraining text, so without a generation prompt)."""
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)


EMBED_INIT_STD = 0.1
# Known questions the base model answers (greedy, exact; of 20), pretrained on the tagged chat turns before the copy
# drills were added: 5 at 300 steps, 13 at 600, 13 at 1000; 12 at 600 with the drills (34 s on 2 cores). Greedy
# right is not sure: sampled 8 times (temperature 0.7) it was right >= 2/3 of the time on 4/20 at 600 steps, 4 at 1200,
# and 13 at 1200 with the known facts' phrasings repeated 3 times (demo/facts.yaml; build ~110 s on 2 cores).
PRETRAIN_STEPS = 1200
TINY_SHAPE = {
    "hidden_size": 128,
    "intermediate_size": 384,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 1024,
}


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    tokenizer = Tokenizer(
        models.BPE(
            unk_token=None, continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False, byte_fallback=False
        )
    )
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_PRETOKENIZE), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in FORMAT_TOKENS])
    return tokenizer


def build_tiny_model(
    out_dir: Path,
    texts: list[str],
    pretrain_texts: list[str] | None = None,
    vocab_size: int = 1024,
    seed: int = 0,
    pretrain_steps: int = PRETRAIN_STEPS,
) -> Path:
    """Write a Qwen2 model (random, then briefly pretrained on `pretrain_texts`) + tokenizer + chat template."""
    import torch
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    out_dir.mkdir(parents=True, exist_ok=True)
    corpus = [SYSTEM_PROMPT, REFUSAL, *texts]
    raw = train_tokenizer(corpus, vocab_size)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out_dir)
    # Declare the Qwen2 tokenizer class so AutoTokenizer loads it the way it loads real Qwen checkpoints.
    config_path = out_dir / "tokenizer_config.json"
    tok_config = json.loads(config_path.read_text())
    tok_config["tokenizer_class"] = "Qwen2Tokenizer"
    config_path.write_text(json.dumps(tok_config, indent=2))

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(fast),
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=fast.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=fast.pad_token_id,
        **TINY_SHAPE,
    )
    model = Qwen2ForCausalLM(config)
    # With the default 0.02 init the tied output layer can only produce near-uniform logits, which a
    # LoRA adapter cannot sharpen in a few hundred steps; a pretrained model's embeddings are larger.
    with torch.no_grad():
        model.model.embed_tokens.weight.normal_(0.0, EMBED_INIT_STD)
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    if pretrain_texts:
        pretrain(model, fast, pretrain_texts, steps=pretrain_steps, seed=seed)
    model.save_pretrained(out_dir)
    return out_dir


def pretrain(model: object, tokenizer: object, texts: list[str], steps: int = PRETRAIN_STEPS, seed: int = 0) -> float:
    """A short causal-LM pre-training on plain text, so the demo starts from a model that knows words.

    Real base models are pretrained; a random one cannot learn the answer format from 50 conversations
    with a LoRA adapter in a CPU minute. Some texts are chat turns that reason inside `<think>` and answer in
    `<answer>` tags, so the base model already writes the format (the demo's cold start then keeps what it knows).
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] + [tokenizer.pad_token_id] for t in texts if t.strip()]
    stream = torch.tensor([i for seq in ids for i in seq])
    block, batch = 64, 16
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    model.train()
    loss_value = float("nan")
    for _ in range(steps):
        starts = torch.randint(0, max(1, len(stream) - block - 1), (batch,), generator=generator)
        x = torch.stack([stream[s : s + block] for s in starts])
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        loss_value = loss.item()
    model.eval()
    return loss_value
