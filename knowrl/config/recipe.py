"""A recipe: YAML with one section per stage, validated at load, overridable with `section.key=value`.

The recipe's model is made from the stage registry (`Registry.recipe_model`): one section per stage, typed by the
stage's config model, so a new stage's section needs no edit here. `extends: other.yaml` starts from another recipe;
`./x` and `../x` in a field typed `RecipePath` resolve against the file that names them.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path, PurePath
from types import UnionType
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from knowrl import resources
from knowrl.config.types import RECIPE_RELATIVE
from knowrl.errors import ConfigError
from knowrl.hashing import stable_hash

if TYPE_CHECKING:
    from knowrl.pipeline.spec import Registry


class RecipeError(ConfigError):
    """A recipe or override is invalid; the message names the file and field."""


class _RecipeLoader(yaml.SafeLoader):
    """YAML as recipes mean it: PyYAML follows YAML 1.1, where `1e-3` (no dot) is a string; YAML 1.2 and every
    trainer config's reader take it as a float. A TRL option passes through to TRL untyped, so `learning_rate: 1e-3`
    would reach the optimizer as text and fail there, after the earlier stages ran."""


_RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def parse_yaml(text: str) -> Any:
    """A recipe's YAML (a file or an override's value), with `1e-3` read as a number."""
    return yaml.load(text, Loader=_RecipeLoader)  # a SafeLoader subclass: safe


class RecipeBase(BaseModel):
    """Fields every recipe has; `recipe_model` adds one section per stage."""

    model_config = ConfigDict(extra="forbid")

    name: str = "recipe"
    description: str = ""

    def stage_config(self, stage: str) -> BaseModel:
        return getattr(self, stage)

    def config_hash(self, stage: str) -> str:
        return stable_hash(self.stage_config(stage).model_dump(mode="json"))


def recipe_model(registry: Registry) -> type[RecipeBase]:
    """The pydantic model of a recipe for these stages: a required section per stage, or its config's defaults for
    a stage whose spec is `optional`."""
    sections: dict[str, Any] = {spec.name: (spec.config, spec.config() if spec.optional else ...) for spec in registry}
    return create_model("Recipe", __base__=RecipeBase, **sections)


def parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise RecipeError(f"override {text!r} is not of the form section.key=value (e.g. sft.max_steps=10)")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if len(parts) < 2:
        raise RecipeError(f"override {text!r} must name a section and a key, e.g. grpo.beta=0.001")
    try:
        value = parse_yaml(raw) if raw.strip() else ""
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


def _read_yaml(
    path: Path, registry: Registry, chain: tuple[Path, ...] = (), files: dict[Path, int] | None = None
) -> dict[str, Any]:
    """A recipe file as a mapping, with `extends: other.yaml` (relative to this file) merged underneath; `files`
    collects every file read, with its modification time."""
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
    if files is not None:
        files[path.resolve()] = _mtime(path)
    try:
        raw = parse_yaml(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise RecipeError(f"recipe {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise RecipeError(f"recipe {path} must be a mapping with one section per stage")
    parent = raw.pop("extends", None)
    # Relative local paths resolve against the file that names them, before the merge.
    for spec in registry:
        if isinstance(raw.get(spec.name), dict):
            _resolve_relative_paths(raw[spec.name], spec.config, path.parent.resolve())
    if parent is None:
        return raw
    return deep_merge(_read_yaml(path.parent / str(parent), registry, (*chain, path.resolve()), files), raw)


def _is_recipe_path(annotation: Any) -> bool:
    """Whether a field's annotation is a RecipePath (possibly optional)."""
    if RECIPE_RELATIVE in getattr(annotation, "__metadata__", ()):
        return True
    is_union = get_origin(annotation) in (Union, UnionType)
    return is_union and any(_is_recipe_path(a) for a in get_args(annotation))


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models a field's annotation holds (itself, or inside a list or an optional)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models_in(arg)]


def _resolve_relative_paths(raw: dict[str, Any], model: type[BaseModel], base: Path) -> None:
    """`./x` and `../x` in the RecipePath fields of `raw` (a section, or a nested model's mapping) become absolute."""
    for name, info in model.model_fields.items():
        if name not in raw:
            continue
        value = raw[name]
        if RECIPE_RELATIVE in info.metadata or _is_recipe_path(info.annotation):
            if isinstance(value, str) and value.startswith(("./", "../")):
                raw[name] = str((base / value).resolve())
            continue
        for inner in _models_in(info.annotation):
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    _resolve_relative_paths(item, inner, base)


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


# (registry, file, overrides, cwd) -> (the files read with their mtimes, the recipe): a run reads its recipe once in a
# process (the CLI's checks, the cached-run check and the flow share it) unless one of its files changed.
_LOADED: dict[tuple[int, str, tuple[str, ...], str], tuple[dict[Path, int], RecipeBase]] = {}


def load_recipe(registry: Registry, path: str | Path, overrides: list[str] | None = None) -> RecipeBase:
    """Load and validate a recipe (a path, or a packaged recipe's name: `resolve_recipe`) with the recipe it
    `extends`, if any; relative local paths in it resolve against the recipe's folder, and `--set` overrides
    against the current directory."""
    path = resolve_recipe(path)
    key = (id(registry), str(path.resolve()), tuple(overrides or []), str(Path.cwd()))
    loaded = _LOADED.get(key)
    if loaded is not None and all(_mtime(f) == mtime for f, mtime in loaded[0].items()):
        return loaded[1]
    files: dict[Path, int] = {}
    raw = apply_overrides(_read_yaml(path, registry, files=files), overrides or [])
    try:
        recipe = registry.recipe_model.model_validate(raw)
    except ValidationError as exc:
        raise RecipeError(f"recipe {path} is invalid:\n{_format_errors(exc)}") from exc
    _LOADED[key] = (files, recipe)
    return recipe


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1
