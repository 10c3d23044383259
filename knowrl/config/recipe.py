"""A recipe: YAML with one section per stage, validated at load, overridable with `section.key=value`."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path, PurePath
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from knowrl import resources
from knowrl.config.stages import (
    DataConfig,
    EvaluateConfig,
    GRPOStageConfig,
    KnowledgeConfig,
    PublishConfig,
    SFTStageConfig,
)
from knowrl.errors import ConfigError


class RecipeError(ConfigError):
    """A recipe or override is invalid; the message names the file and field."""


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "recipe"
    description: str = ""
    data: DataConfig
    knowledge: KnowledgeConfig
    sft: SFTStageConfig
    grpo: GRPOStageConfig
    evaluate: EvaluateConfig
    publish: PublishConfig

    def stage_config(self, stage: str) -> BaseModel:
        return getattr(self, stage)

    def config_hash(self, stage: str) -> str:
        return hash_config(self.stage_config(stage).model_dump(mode="json"))


def hash_config(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise RecipeError(f"override {text!r} is not of the form section.key=value (e.g. sft.max_steps=10)")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if len(parts) < 2:
        raise RecipeError(f"override {text!r} must name a section and a key, e.g. grpo.beta=0.001")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise RecipeError(f"override {text!r}: value is not valid YAML ({exc})") from exc
    return parts, value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    merged = copy.deepcopy(raw)
    for text in overrides:
        parts, value = parse_override(text)
        node = merged
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise RecipeError(f"override {text!r}: {part!r} is a value, not a section")
            node = child
        node[parts[-1]] = value
    return merged


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        location = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        # A validator of a whole section names the field in its message; echoing the section's input is noise.
        got = "" if error["type"] == "value_error" else f" (got {error.get('input')!r:.80})"
        lines.append(f"  {location}: {message}{got}")
    return "\n".join(lines)


def deep_merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`changes` over `base`: mappings merge key by key, anything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _read_yaml(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A recipe file as a mapping, with `extends: other.yaml` (relative to this file) merged underneath."""
    if not path.exists():
        here = ""
        if path.parent.is_dir():
            here = f"available in {path.parent}: {sorted(p.name for p in path.parent.glob('*.yaml'))}; "
        packaged = [n.removesuffix(".yaml") for n in resources.recipe_names()]
        raise RecipeError(
            f"recipe {path} does not exist; {here}packaged with knowrl (name one, e.g. --recipe demo): {packaged}"
        )
    if path.resolve() in chain:
        raise RecipeError(f"recipe {path} extends itself through {[str(p) for p in chain]}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise RecipeError(f"recipe {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise RecipeError(f"recipe {path} must be a mapping with one section per stage")
    parent = raw.pop("extends", None)
    # Relative local paths resolve against the file that names them, before the merge.
    _resolve_relative_paths(raw, path.parent.resolve())
    if parent is None:
        return raw
    return deep_merge(_read_yaml(path.parent / str(parent), (*chain, path.resolve())), raw)


def resolve_recipe(reference: str | Path) -> Path:
    """The file a recipe reference names: an existing path as it is; else a recipe packaged with knowrl, named
    `demo`, `demo.yaml` or `recipes/demo.yaml` (its path in the repository). So the same reference works in a
    checkout, from any folder, and with an installed wheel. Anything else is returned as it is (and fails to load,
    naming the recipes there are)."""
    path = Path(reference).expanduser()
    if path.is_file():
        return path
    parts = PurePath(reference).parts
    if not path.is_absolute() and (len(parts) == 1 or (len(parts) == 2 and parts[0] == "recipes")):
        packaged = resources.packaged_recipe(parts[-1])
        if packaged is not None:
            return packaged
    return path


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Load and validate a recipe (a path, or a packaged recipe's name: `resolve_recipe`) with the recipe it
    `extends`, if any; relative local paths in it resolve against the recipe's folder, and `--set` overrides
    against the current directory."""
    path = resolve_recipe(path)
    raw = _read_yaml(path)
    raw = apply_overrides(raw, overrides or [])
    try:
        return Recipe.model_validate(raw)
    except ValidationError as exc:
        raise RecipeError(f"recipe {path} is invalid:\n{_format_errors(exc)}") from exc


_PATH_KEYS = {
    "data": ("rl_source", "coldstart_source"),
    "knowledge": ("source",),
    "sft": ("base_model",),
}


def _resolve_relative_paths(raw: dict[str, Any], base: Path) -> None:
    """`./x` and `../x` in a recipe mean relative to the recipe file, so recipes work from any cwd."""

    def resolve(value: Any) -> Any:
        if isinstance(value, str) and (value.startswith("./") or value.startswith("../")):
            return str((base / value).resolve())
        return value

    for section, keys in _PATH_KEYS.items():
        block = raw.get(section)
        if isinstance(block, dict):
            for key in keys:
                if key in block:
                    block[key] = resolve(block[key])
    for bench in (raw.get("evaluate") or {}).get("benchmarks") or []:
        if isinstance(bench, dict) and "source" in bench:
            bench["source"] = resolve(bench["source"])
