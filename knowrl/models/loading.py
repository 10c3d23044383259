"""Turn a model reference from a recipe into a local directory: Hub id (+ revision), local path, or builtin."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from knowrl.models.tiny import EMBED_INIT_STD, PRETRAIN_STEPS, TINY_SHAPE, build_tiny_model

BUILTIN_TINY = "builtin:tiny-qwen2"
DEMO_TEXTS = ("demo/data/corpus.jsonl", "demo/data/coldstart.json", "demo/data/rl.jsonl")


class ModelSourceError(ValueError):
    """A model reference is neither a local model folder, a Hub id, nor a known builtin."""


def _demo_texts(repo_root: Path) -> list[str]:
    texts: list[str] = []
    for rel in DEMO_TEXTS:
        path = repo_root / rel
        if path.exists():
            texts.extend(path.read_text().splitlines())
    if not texts:
        raise ModelSourceError(
            f"{BUILTIN_TINY} trains its tokenizer on the demo data, not found under {repo_root}/demo"
        )
    return texts


def _pretrain_texts(repo_root: Path) -> list[str]:
    """Plain text only: corpus pages and questions, no chat markup, no think/answer tags."""
    texts = []
    for line in (repo_root / "demo" / "data" / "corpus.jsonl").read_text().splitlines():
        texts.extend(p for p in json.loads(line)["text"].split("\n\n"))
    for line in (repo_root / "demo" / "data" / "rl.jsonl").read_text().splitlines():
        row = json.loads(line)
        texts.append(f"{row['question']} {row['answers']}.")
    return texts


def _build_builtin(models_dir: Path) -> Path:
    repo_root = Path(__file__).resolve().parents[2]
    texts = _demo_texts(repo_root)
    pretrain = _pretrain_texts(repo_root)
    key = hashlib.sha256(
        json.dumps([TINY_SHAPE, EMBED_INIT_STD, PRETRAIN_STEPS, texts, pretrain], sort_keys=True).encode()
    ).hexdigest()[:12]
    target = models_dir / f"tiny-qwen2-{key}"
    if (target / "config.json").exists():
        return target
    tmp = models_dir / f".tmp-tiny-qwen2-{key}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
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
                token=os.environ.get("HF_TOKEN"),
                allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.py"],
            )
        )
    except Exception as exc:  # the Hub client raises many types; name the model and the way out
        raise ModelSourceError(
            f"could not download model {reference!r} at revision {revision or 'main'}: {type(exc).__name__}: {exc}. "
            "Check the id and HF_TOKEN, or set the recipe's base_model to a local folder."
        ) from exc
