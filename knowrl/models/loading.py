"""Turn a model reference from a recipe into a local directory: Hub id (+ revision), local path, or builtin."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from knowrl import resources
from knowrl.errors import InputError, disk_full_as_oserror, hub_failure_is_transient
from knowrl.hashing import stable_hash
from knowrl.method.prompts import REFUSAL
from knowrl.models.tiny import EMBED_INIT_STD, PRETRAIN_STEPS, TINY_SHAPE, build_tiny_model, chatml

BUILTIN_TINY = "builtin:tiny-qwen2"
# The cold start's refusal reasoning, without the made-up entity it names (see demo_model_texts).
REFUSAL_REASONING = "I have no reliable knowledge of this topic, so I should not guess."


class ModelSourceError(InputError):
    """A model reference is neither a local model folder, a Hub id, nor a known builtin."""


def demo_model_texts(data: Path) -> tuple[list[str], list[str]]:
    """(tokenizer texts, pretraining texts) of the demo's tiny model.

    Pretraining is the plain text of data/pretrain.jsonl (written by scripts/make_demo_data.py from
    demo/facts.yaml): the corpus pages and, for each fact about a real topic, trained or only known, its question
    with its answer and its sentence, also as chat turns that reason inside <think> and answer inside <answer>
    (demo/facts.yaml says why the tags are there), and drills that copy a conclusion into the tags. Nothing about
    the made-up entities:
    the model has never seen them, exactly like the held-out made-up entities it is evaluated on, so "unfamiliar
    entity" is the same signal in training and evaluation. The tokenizer also sees the cold start's answers, but
    its refusals only without the made-up entity they name.
    """
    pretrain_file = data / "pretrain.jsonl"
    if not pretrain_file.exists():
        raise ModelSourceError(
            f"{BUILTIN_TINY} is pretrained on {pretrain_file}, which is missing: run scripts/make_demo_data.py"
        )
    rows = [json.loads(line) for line in pretrain_file.read_text().splitlines() if line.strip()]
    pretrain = [row["text"] if "text" in row else chatml(row["messages"]) for row in rows]
    responses = [
        turn["value"]
        for row in json.loads((data / "coldstart.json").read_text())
        if REFUSAL not in row["conversations"][-1]["value"]
        for turn in row["conversations"]
    ]
    return [*pretrain, *responses, REFUSAL_REASONING], pretrain


def _build_builtin(models_dir: Path) -> Path:
    texts, pretrain = demo_model_texts(resources.demo_dir() / "data")
    key = stable_hash([TINY_SHAPE, EMBED_INIT_STD, PRETRAIN_STEPS, texts, pretrain], 12)
    target = models_dir / f"tiny-qwen2-{key}"
    if (target / "config.json").exists():
        return target
    tmp = models_dir / f".tmp-tiny-qwen2-{key}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    with disk_full_as_oserror(models_dir):  # safetensors reports a full disk as its own error
        build_tiny_model(tmp, texts, pretrain)
    try:
        os.rename(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # built concurrently by another process: use theirs
    return target


def resolve_model(reference: str, models_dir: Path, revision: str | None = None) -> Path:
    """A local directory holding the model (config, weights, tokenizer)."""
    if reference == BUILTIN_TINY:
        return _build_builtin(models_dir)
    local = Path(reference).expanduser()
    if local.exists():
        if not (local / "config.json").exists():
            raise ModelSourceError(f"{local} exists but holds no config.json: point at a model folder")
        return local.resolve()
    if reference.startswith(("/", ".", "~")) or reference.count("/") != 1:
        raise ModelSourceError(
            f"model {reference!r} is not an existing folder, a Hub id (owner/name), or {BUILTIN_TINY}"
        )
    from huggingface_hub import snapshot_download

    try:
        return Path(
            snapshot_download(
                repo_id=reference,
                revision=revision,
                cache_dir=str(models_dir / "hub"),
                allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.py"],
            )
        )
    except Exception as exc:  # the Hub client raises many types; name the model and the way out
        raise ModelSourceError(
            f"could not download model {reference!r} at revision {revision or 'main'}: {type(exc).__name__}: {exc}. "
            "Check the id and HF_TOKEN, or set the recipe's base_model to a local folder.",
            transient=hub_failure_is_transient(exc),
        ) from exc
