"""A tiny stand-in for MoritzLaurer/DeBERTa-v3-base-mnli-fever-anli: a hand-built DebertaV2ForSequenceClassification
that judges word support, in the real repo's layout, with a Unigram (SentencePiece-style) fast tokenizer.

Real-repo facts (public copies found with the search tools): the 2022 file listing (`.gitattributes`, `README.md`,
`added_tokens.json`, `config.json`, `pytorch_model.bin`, `special_tokens_map.json`, `spm.model`,
`tokenizer_config.json`; model_type deberta-v2, DebertaV2ForSequenceClassification); `tokenizer.json` (and an
`onnx/` folder) downloaded from the repo's main branch by later users; the card's example reads the softmax as
`["entailment", "neutral", "contradiction"]`, i.e. id2label 0 entailment, 1 neutral, 2 contradiction. Written here:
config.json, model.safetensors (instead of pytorch_model.bin), tokenizer.json, tokenizer_config.json
(tokenizer_class DebertaV2Tokenizer, cased), special_tokens_map.json, added_tokens.json ([MASK] after the
SentencePiece vocabulary, as the real 128000) and README.md; spm.model is omitted (transformers 5 builds the
tokenizer from tokenizer.json; no sentencepiece needed). The config keeps the real DeBERTa-v3 flags (relative
attention with p2c/c2p, 256 position buckets, no absolute positions, layer-normed relative embeddings) in a tiny
shape, except `type_vocab_size: 2` (real: 0), which the model needs to tell premise from hypothesis: pass the
tokenizer's `token_type_ids` (AutoTokenizer pairs return them).

transformers 5.25 loads the tokenizer as DebertaV2Tokenizer: it keeps tokenizer.json's Unigram vocabulary and
rebuilds the normaliser (whitespace runs to one space, NFC, right strip), the Metaspace pre-tokenizer (prefix
always) and the `[CLS] A [SEP] B [SEP]` post-processor, which is what tokenizer.json holds, so ids are unchanged.

Behaviour (support_words=True; hand-set weights, nothing trained, deterministic). The vocabulary: the special tokens,
punctuation, and whole words (BASE_WORDS, STOP_WORDS and the words of `texts`), each as given, lower-case and
capitalised, after the `▁` word-start mark, and (not stop words) without it, for words after punctuation. Anything
else (an unknown word, "PARIS") becomes `[UNK]`. A hypothesis token is supported when the same word, ignoring case,
is a token of the premise; stop words, single letters and punctuation always count as supported, `[UNK]` never.
Layer 1 lets each token attend to its word in the other segment, else to a [CLS] "sink" that marks it unsupported;
layer 2 pools "any unsupported hypothesis token" into [CLS]; the head maps it to logits (entailment, neutral,
contradiction) = (3, 0, -1) or (-3, 2, -1). Measured: P(entailment) = 0.936 when every hypothesis word is in the
premise, 0.0068 (neutral 0.945) when one is not, the same to 3 decimals over 292 random pairs with premises of 5 to
300 words. Word order and negation are ignored ("Paris is not the capital of France" is entailed by
"The capital of France is Paris"); a pair without a hypothesis segment (an empty hypothesis, or no token_type_ids)
counts as unsupported. With support_words=False every weight but the LayerNorm scales is zero: P = 1/3 per label.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterable
from pathlib import Path

STOP_WORDS = {
    "a", "an", "the", "of", "in", "on", "at", "to", "for", "from", "by", "with", "and", "or", "but", "as", "is",
    "are", "was", "were", "be", "been", "being", "has", "have", "had", "do", "does", "did", "it", "its", "this",
    "that", "these", "those", "which", "who", "whom", "whose", "what", "when", "where", "why", "how", "there",
    "their", "they", "he", "she", "his", "her", "him", "we", "our", "you", "your", "i", "me", "my", "not", "no",
    "also", "than", "then", "so", "such", "into", "over", "under", "about", "after", "before", "between", "during",
    "while", "if", "s"
}  # fmt: skip
BASE_WORDS = [
    "capital", "city", "country", "river", "mountain", "lake", "island", "king", "queen", "president", "author",
    "book", "novel", "song", "album", "painter", "painting", "scientist", "discovered", "invented", "founded", "born",
    "died", "wrote", "painted", "built", "won", "prize", "award", "year", "century", "war", "treaty", "battle",
    "language", "people", "largest", "oldest", "first", "north", "south", "east", "west", "france", "paris",
    "germany", "berlin", "italy", "rome", "spain", "madrid", "japan", "tokyo", "egypt", "cairo", "nile", "everest",
    "fleming", "alexander", "penicillin", "einstein", "relativity", "newton", "gravity", "curie", "radium",
    "shakespeare", "hamlet", "moon", "sun", "earth", "mars", "water", "gold", "silver", "red", "blue", "green"
]  # fmt: skip
PUNCTUATION = list(".,;:!?'\"()[]{}-–—/&%$#@*+=<>|~`^_\\")
SPECIALS = ["[PAD]", "[CLS]", "[SEP]", "[UNK]"]  # ids 0-3 as in DeBERTa-v3; [MASK] comes after the vocabulary
LABELS = {0: "entailment", 1: "neutral", 2: "contradiction"}
HIDDEN, WORD_DIMS = 256, 120  # word vectors use dims [0, 120); pairs of (+v, -v) dims carry the flags below
CONST, SEG, SINK, MISS, ANY, FILL = 120, 122, 124, 126, 128, 130
BETA, TAU, MARGIN, KAPPA = 40.0, 0.6, 2.0, 12.0  # match sharpness, sink threshold, segment margin, "any" sharpness


def vocabulary(texts: Iterable[str] = ()) -> list[str]:
    words = dict.fromkeys(BASE_WORDS + sorted(STOP_WORDS))
    for text in texts:
        words.update(dict.fromkeys(re.findall(r"[^\W_]+", text)))
    forms = dict.fromkeys(f for w in words for f in (w, w.lower(), w.capitalize()))
    inner = [f for f in forms if f.lower() not in STOP_WORDS] + ["s"]  # after punctuation, as in "(Paris" or "'s"
    return list(dict.fromkeys([*SPECIALS, "▁", *PUNCTUATION, *(f"▁{f}" for f in forms), *inner]))


def train_tokenizer(texts: Iterable[str] = ()):
    """The Unigram tokenizer of tokenizer.json, with the components transformers' DebertaV2Tokenizer installs."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    pieces = vocabulary(texts)
    scores = [(p, 0.0 if p in SPECIALS else -1.0) for p in pieces]
    raw = Tokenizer(models.Unigram(scores, unk_id=SPECIALS.index("[UNK]"), byte_fallback=False))
    raw.normalizer = normalizers.Sequence(
        [normalizers.Replace(Regex(r"\s{2,}|[\n\r\t]"), " "), normalizers.NFC(), normalizers.Strip(False, True)]
    )
    raw.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace("▁", prepend_scheme="always")])
    raw.decoder = decoders.Metaspace("▁", prepend_scheme="always")
    raw.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in [*SPECIALS, "[MASK]"]])
    raw.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 1), ("[SEP]", 2)],
    )
    return raw


def _word_vector(key: str):
    import torch

    g = torch.Generator().manual_seed(zlib.crc32(key.encode("utf-8")))
    v = torch.randn(WORD_DIMS, generator=g)
    v -= v.mean()
    return v * (WORD_DIMS**0.5 / v.norm())


def _pair(weight, row: int, col, gain: float) -> None:
    """Write `gain * (x[col] - x[col + 1]) / 2` (a flag stored as a +/- pair) into output `row`."""
    weight[row, col] += gain / 2
    weight[row, col + 1] -= gain / 2


def build_tiny_deberta_nli(out: Path, *, support_words: bool = True, texts: Iterable[str] = ()) -> Path:
    """Write the tiny NLI repo to `out` (see the module docstring); `texts` add their words to the vocabulary."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModelForSequenceClassification

    out.mkdir(parents=True, exist_ok=True)
    raw = train_tokenizer(texts)
    raw.save(str(out / "tokenizer.json"))
    n_pieces = raw.get_vocab_size()
    specials = {"bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "[UNK]", "sep_token": "[SEP]"}
    specials |= {"pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"}
    tokenizer_config = {"do_lower_case": False, **specials, "split_by_punct": False, "sp_model_kwargs": {}}
    tokenizer_config |= {"vocab_type": "spm", "tokenizer_class": "DebertaV2Tokenizer"}
    config = {
        "architectures": ["DebertaV2ForSequenceClassification"],
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": HIDDEN,
        "id2label": {str(i): label for i, label in LABELS.items()},
        "initializer_range": 0.02,
        "intermediate_size": 2 * HIDDEN,
        "label2id": {label: i for i, label in LABELS.items()},
        "layer_norm_eps": 1e-07,
        "max_position_embeddings": 512,
        "max_relative_positions": -1,
        "model_type": "deberta-v2",
        "norm_rel_ebd": "layer_norm",
        "num_attention_heads": 2,
        "num_hidden_layers": 2,
        "pad_token_id": 0,
        "pooler_dropout": 0,
        "pooler_hidden_act": "gelu",
        "pooler_hidden_size": HIDDEN,
        "pos_att_type": ["p2c", "c2p"],
        "position_biased_input": False,
        "position_buckets": 256,
        "relative_attention": True,
        "share_att_key": True,
        "torch_dtype": "float32",
        "transformers_version": "4.13.0",
        "type_vocab_size": 2,
        "vocab_size": -(-(n_pieces + 1) // 100) * 100,  # unused rows, as the real 128100 for 128001 tokens
    }
    files = {
        "config.json": config,
        "tokenizer_config.json": tokenizer_config,
        "special_tokens_map.json": specials,
        "added_tokens.json": {"[MASK]": raw.token_to_id("[MASK]")},
    }
    for name, content in files.items():
        (out / name).write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    card = "---\nlanguage:\n- en\nlicense: mit\npipeline_tag: zero-shot-classification\n---\n\n# Tiny NLI stand-in\n"
    (out / "README.md").write_text(card, encoding="utf-8")

    model = AutoModelForSequenceClassification.from_config(AutoConfig.from_pretrained(out))
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.ones_like(p) if "LayerNorm.weight" in name else torch.zeros_like(p))
        if support_words:
            _set_weights(model, raw)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "model.safetensors"))
    return out


def _set_weights(model, raw) -> None:
    """Embeddings: a word vector per lower-cased word (one shared vector for stop words, punctuation and [SEP], a
    zero one for [UNK]), a constant flag, a segment flag from the token type and a sink flag on [CLS]. Layer 1: each
    token attends to the same word in the other segment, else to the [CLS] sink, whose value is written as its
    "missing" flag. Layer 2: [CLS] attends to the hypothesis' tokens, most to missing ones, pooling "any missing"."""
    import torch

    emb = model.deberta.embeddings
    free = _word_vector("[SEP]")
    for piece, i in raw.get_vocab().items():
        word = piece.removeprefix("▁")
        if piece == "[PAD]":
            continue
        if piece in ("[UNK]", "[MASK]"):  # no word vector, but the same norm as the others (unread dims)
            w = torch.zeros(WORD_DIMS)
            emb.word_embeddings.weight[i, FILL : FILL + 2] = torch.tensor([1.0, -1.0]) * (WORD_DIMS / 2) ** 0.5
        elif word.lower() in STOP_WORDS or word in PUNCTUATION or word in ("", "[SEP]") or len(word) == 1:
            w = free if not word.isdigit() else _word_vector(word)
        else:
            w = _word_vector(word.lower())
        emb.word_embeddings.weight[i, :WORD_DIMS] = w
        emb.word_embeddings.weight[i, CONST : CONST + 2] = torch.tensor([1.0, -1.0])
    emb.word_embeddings.weight[raw.token_to_id("[CLS]"), SINK : SINK + 2] = torch.tensor([1.0, -1.0])
    emb.token_type_embeddings.weight[:, SEG : SEG + 2] = torch.tensor([[-1.0, 1.0], [1.0, -1.0]])
    # After the embedding LayerNorm a token's vector is scaled by lam = sqrt(HIDDEN / |e|^2).
    lam, lam_cls = (HIDDEN / (WORD_DIMS + 4)) ** 0.5, (HIDDEN / (WORD_DIMS + 6)) ** 0.5
    scale = (HIDDEN // 2 * 3) ** 0.5  # DeBERTa divides scores by sqrt(head size * 3) with c2p and p2c
    first, second = (layer.attention for layer in model.deberta.encoder.layer)
    q, k, v = (first.self.query_proj.weight, first.self.key_proj.weight, first.self.value_proj.weight)
    o = first.output.dense.weight
    q[:WORD_DIMS, :WORD_DIMS] = torch.eye(WORD_DIMS) * BETA * scale / (lam**2 * WORD_DIMS)
    k[:WORD_DIMS, :WORD_DIMS] = torch.eye(WORD_DIMS)
    _pair(q, WORD_DIMS, CONST, BETA * TAU * scale / (lam * lam_cls))  # + BETA * TAU on the sink
    _pair(k, WORD_DIMS, SINK, 1.0)
    _pair(q, WORD_DIMS + 1, CONST, -BETA * MARGIN * scale / (2 * lam**2))  # - BETA * MARGIN on the own segment
    _pair(k, WORD_DIMS + 1, SEG, 1.0)
    _pair(v, 0, SINK, 1 / lam_cls)  # value 1 on the sink, 0 elsewhere
    o[MISS, 0], o[MISS + 1, 0] = 1.0, -1.0
    q, k, v = (second.self.query_proj.weight, second.self.key_proj.weight, second.self.value_proj.weight)
    o = second.output.dense.weight
    _pair(q, 0, CONST, 2 * BETA * scale / (2 * lam * lam_cls))  # hypothesis tokens (SEG +1) over premise ones
    _pair(k, 0, SEG, 1.0)
    _pair(q, 1, CONST, KAPPA * scale / lam_cls)  # and missing ones over supported ones
    _pair(k, 1, MISS, 1.0)
    _pair(v, 0, MISS, 1.0)
    o[ANY, 0], o[ANY + 1, 0] = 1.0, -1.0
    _pair(model.pooler.dense.weight, 0, ANY, 4.0)
    model.classifier.weight[:, 0] = torch.tensor([-1.5, 0.5, 0.0])
    model.classifier.bias.copy_(torch.tensor([3.0, 0.0, -1.0]))
