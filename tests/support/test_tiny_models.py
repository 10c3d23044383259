"""The tiny stand-ins for the paper's models load through the Auto classes and keep the real repos' behaviour."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.tiny_deberta_nli import build_tiny_deberta_nli
from tests.support.tiny_deberta_nli import train_tokenizer as train_nli_tokenizer
from tests.support.tiny_r1 import ASSISTANT, BOS, EOS, USER, build_tiny_r1
from tests.support.tiny_r1 import train_tokenizer as train_r1_tokenizer

R1_TEXTS = [
    "Question: who discovered penicillin? <think>\nFleming, in 1928.</think>\n\nAlexander Fleming.",
    "The capital of France is Paris. 法国的首都是巴黎。",
    "Numbers like 3.14 and 1,000 split digit by digit.",
] * 5
R1_SAMPLES = [
    "Hello world",
    "  two leading spaces and a tab\t",
    f"{BOS}{USER}Who?{ASSISTANT}<think>\nreasoning</think>\n\nFleming{EOS}",
    "青霉素是弗莱明发现的。 Über café",
    "<|im_start|>user",
]
CONVERSATIONS = [
    [{"role": "user", "content": "Who discovered penicillin?"}],
    [
        {"role": "system", "content": "ignored"},
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "<think>\nfirst</think>x</think>\n\nA1"},
        {"role": "user", "content": "Q2"},
    ],
]
SUPPORTED = [
    ("The capital of France is Paris.", "Paris is the capital of France."),
    ("Alexander Fleming discovered penicillin in 1928.", "Fleming discovered penicillin."),
    ("Einstein wrote about relativity and gravity.", "Einstein wrote about gravity."),
    ("The Nile is the longest river in Egypt.", "The Nile is a river in Egypt."),
    ("Tokyo is the capital of Japan.", "The capital of Japan is Tokyo."),
    ("Marie Curie discovered radium.", "Curie discovered radium."),
    ("Mount Everest is the largest mountain on earth.", "Everest is a mountain."),
    ("Berlin is the capital city of Germany.", "Berlin is a city in Germany."),
    ("Ivo Brandt scored 3 goals in the 1987 cup final.", "Brandt scored 3 goals in 1987."),
    ("The painter painted a red and blue painting in Rome.", "The painting was painted in Rome."),
]
UNSUPPORTED = [
    ("The capital of France is Paris.", "Berlin is the capital of France."),
    ("Alexander Fleming discovered penicillin.", "Einstein discovered penicillin."),
    ("Einstein wrote about relativity.", "Einstein wrote about gravity."),
    ("The Nile is a river in Egypt.", "The Nile is a river in Spain."),
    ("Tokyo is the capital of Japan.", "Tokyo is the capital of Italy."),
    ("Marie Curie discovered radium.", "Curie discovered gold."),
    ("Everest is a mountain in the north.", "Everest is a mountain in the south."),
    ("Berlin is a city in Germany.", "Madrid is a city in Germany."),
    ("Ivo Brandt scored 3 goals in the 1987 cup final.", "Brandt scored 4 goals in 1987."),
    ("The painter painted in Rome.", "Zorbania painted in Rome."),  # an out-of-vocabulary word
]
NLI_TEXTS = ["Ivo Brandt scored 3 goals in the 1987 cup final; Brandt scored 4 goals in 1987."]


@pytest.fixture(scope="module")
def r1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_r1(tmp_path_factory.mktemp("r1"), R1_TEXTS)


@pytest.fixture(scope="module")
def nli(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_deberta_nli(tmp_path_factory.mktemp("nli"), texts=NLI_TEXTS)


def real_template(revision: str) -> str:
    """The real R1-Distill template as TRL ships it (the 2025-02 revision), or the 2025-01 one derived from it."""
    trl_templates = pytest.importorskip("trl.chat_template_utils")
    template = trl_templates.deepseek_r1_distill_chat_template
    if revision == "2025-01":
        later_prompt = "{{'<｜Assistant｜><think>\\n'}}"
        assert template.count(later_prompt) == 1
        template = template.replace(later_prompt, "{{'<｜Assistant｜>'}}")
    return template


def test_r1_loads_and_generates(r1: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert {p.name for p in r1.iterdir()} == {
        "README.md", "config.json", "generation_config.json", "model-00001-of-000002.safetensors",
        "model-00002-of-000002.safetensors", "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json",
    }  # fmt: skip
    tokenizer = AutoTokenizer.from_pretrained(r1)
    assert type(tokenizer).__name__ == "Qwen2Tokenizer"  # not LlamaTokenizer's Metaspace, whatever the config says
    model = AutoModelForCausalLM.from_pretrained(r1)
    assert type(model).__name__ == "Qwen2ForCausalLM" and not model.config.tie_word_embeddings
    assert model.config.vocab_size >= len(tokenizer)
    assert model.generation_config.bos_token_id == tokenizer.bos_token_id
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id == tokenizer.pad_token_id
    enc = tokenizer.apply_chat_template(CONVERSATIONS[0], add_generation_prompt=True, return_tensors="pt")
    torch.manual_seed(0)
    generated = model.generate(**enc, max_new_tokens=4, do_sample=False)
    assert generated.shape[1] > enc["input_ids"].shape[1]


def test_r1_tokenizer_keeps_the_trained_ids(r1: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer, raw = AutoTokenizer.from_pretrained(r1), train_r1_tokenizer(R1_TEXTS)
    for text in R1_SAMPLES:
        assert tokenizer(text)["input_ids"] == raw.encode(text).ids
        assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text
    ids = tokenizer("x")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and ids.count(tokenizer.bos_token_id) == 1
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == (BOS, EOS, EOS)
    assert tokenizer.model_max_length == 16384
    for token in (USER, ASSISTANT, "<think>", "</think>"):
        assert len(tokenizer(token, add_special_tokens=False)["input_ids"]) == 1
    assert tokenizer.decode(tokenizer("<think>a</think>")["input_ids"], skip_special_tokens=True) == "<think>a</think>"
    assert "<|im_start|>" not in tokenizer.get_vocab() and "<|im_end|>" not in tokenizer.get_vocab()


@pytest.mark.parametrize("revision", ["2025-01", "2025-02"])
def test_r1_template_renders_as_the_real_one(tmp_path: Path, revision: str) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(build_tiny_r1(tmp_path, R1_TEXTS, template_revision=revision))
    template = tokenizer.chat_template
    assert not re.search(r"\{%-?\s*generation", template) and "DeepSeek" not in template
    real = real_template(revision)
    assistant_final = [*CONVERSATIONS[0], {"role": "assistant", "content": "<think>\nStill thinking"}]
    cases = [(c, {"add_generation_prompt": g}) for c in CONVERSATIONS for g in (False, True)]
    cases += [(c, {"continue_final_message": True}) for c in (CONVERSATIONS[0], assistant_final)]
    for messages, options in cases:
        ours = tokenizer.apply_chat_template(messages, tokenize=False, **options)
        assert ours == tokenizer.apply_chat_template(messages, tokenize=False, chat_template=real, **options)
        assert ours.startswith(BOS)
    prompt = tokenizer.apply_chat_template(CONVERSATIONS[1], tokenize=False, add_generation_prompt=True)
    assert prompt.startswith(BOS + "Be brief." + USER + "Q1")
    assert f"{ASSISTANT}\n\nA1{EOS}" in prompt and "first" not in prompt
    assert prompt.endswith(ASSISTANT + "<think>\n" if revision == "2025-02" else "Q2" + ASSISTANT)
    cut = tokenizer.apply_chat_template(assistant_final, tokenize=False, continue_final_message=True)
    assert cut.endswith(ASSISTANT + "<think>\nStill thinking")


def test_trl_refuses_assistant_only_loss_with_the_r1_template(r1: Path, tmp_path: Path) -> None:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer
    from trl.chat_template_utils import deepseek_r1_distill_training_chat_template, get_training_chat_template

    tokenizer = AutoTokenizer.from_pretrained(r1)
    messages = [*CONVERSATIONS[0], {"role": "assistant", "content": "<think>\nhm</think>\n\nFleming."}]
    args = SFTConfig(
        output_dir=str(tmp_path), max_steps=1, use_cpu=True, bf16=False, assistant_only_loss=True, report_to=[]
    )
    with pytest.raises(ValueError, match="chat template"):
        SFTTrainer(
            model=AutoModelForCausalLM.from_pretrained(r1),
            args=args,
            train_dataset=Dataset.from_list([{"messages": messages}]),
            processing_class=tokenizer,
        )
    # The real (2025-02) template text is patched instead: TRL swaps in a training template that keeps the reasoning.
    tokenizer.chat_template = real_template("2025-02")
    assert get_training_chat_template(tokenizer) == deepseek_r1_distill_training_chat_template


def _p_entailment(model, tokenizer, pairs: list[tuple[str, str]]) -> list[float]:
    import torch

    enc = tokenizer(
        [p for p, _ in pairs],
        [h for _, h in pairs],
        padding=True,
        truncation=True,
        max_length=512,
        return_tensors="pt",
    )
    with torch.inference_mode():
        probs = model(**enc).logits.softmax(-1)
    return probs[:, model.config.label2id["entailment"]].tolist()


def test_nli_loads_and_judges_word_support(nli: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(nli)
    model = AutoModelForSequenceClassification.from_pretrained(nli).eval()
    assert type(tokenizer).__name__ == "DebertaV2Tokenizer"
    assert type(model).__name__ == "DebertaV2ForSequenceClassification"
    assert model.config.id2label == {0: "entailment", 1: "neutral", 2: "contradiction"}
    raw = train_nli_tokenizer(NLI_TEXTS)
    for premise, hypothesis in SUPPORTED[:3] + UNSUPPORTED[-2:]:
        assert tokenizer(premise, hypothesis)["input_ids"] == raw.encode(premise, hypothesis).ids
    supported, unsupported = _p_entailment(model, tokenizer, SUPPORTED), _p_entailment(model, tokenizer, UNSUPPORTED)
    assert min(supported) >= 0.5, supported
    assert max(unsupported) <= 0.3, unsupported


def test_nli_without_support_words_ignores_the_pair(tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = build_tiny_deberta_nli(tmp_path, support_words=False)
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    probs = _p_entailment(model, AutoTokenizer.from_pretrained(out), SUPPORTED[:2] + UNSUPPORTED[:2])
    assert probs == pytest.approx([1 / 3] * 4)
