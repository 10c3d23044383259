"""A tiny sentence-transformers model built locally (no Hub), shaped like gtr-t5-large: a T5 encoder, mean
pooling, a dense projection and L2 normalisation, saved as a sentence-transformers folder."""

from __future__ import annotations

from pathlib import Path

CORPUS = [
    "mount everest is the highest mountain above sea level",
    "edmund hillary and tenzing norgay reached the summit in 1953",
    "alpha centauri is the closest star system to the solar system",
    "zebras are african equines with black and white stripes",
    "penicillin was discovered by alexander fleming in 1928",
]


def build_tiny_sentence_encoder(out: Path, d_model: int = 32, dense_out: int = 16) -> Path:
    import torch
    from sentence_transformers import SentenceTransformer, models
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, trainers
    from tokenizers import models as tok_models
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

    torch.manual_seed(0)
    raw = Tokenizer(tok_models.WordLevel(unk_token="<unk>"))
    raw.normalizer = normalizers.Lowercase()
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    raw.train_from_iterator(CORPUS * 3, trainers.WordLevelTrainer(special_tokens=["<pad>", "</s>", "<unk>"]))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=128
    )
    encoder_dir = out / "encoder"
    tokenizer.save_pretrained(encoder_dir)
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=d_model,
        d_kv=8,
        d_ff=2 * d_model,
        num_layers=1,
        num_heads=4,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    T5EncoderModel(config).save_pretrained(encoder_dir)
    word = models.Transformer(str(encoder_dir), max_seq_length=128)
    pooling = models.Pooling(word.get_embedding_dimension(), pooling_mode="mean")
    dense = models.Dense(d_model, dense_out, activation_function=torch.nn.Identity())
    SentenceTransformer(modules=[word, pooling, dense, models.Normalize()]).save(str(out / "st"))
    return out / "st"
