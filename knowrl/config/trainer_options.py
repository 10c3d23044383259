"""The option names TRL's `SFTConfig` and `GRPOConfig` accept, read from their source without importing them.

A recipe passes any TRL option through `trl_args:`; its names are checked when the recipe loads, which must
take well under a second. Importing TRL's config classes pulls in torch (seconds), so the dataclass fields
are read from the installed source files instead: the class body and those of its bases, across modules.
The values are checked by TRL itself when the stage builds the config.
"""

from __future__ import annotations

import ast
import re
import threading
from functools import cache
from importlib.machinery import PathFinder
from pathlib import Path

CONFIG_CLASSES = {"sft": ("trl.trainer.sft_config", "SFTConfig"), "grpo": ("trl.trainer.grpo_config", "GRPOConfig")}


def _module_file(module: str) -> Path | None:
    """The source file of a module, located without importing it or its package (PathFinder only looks)."""
    top, *rest = module.split(".")
    spec = PathFinder.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        return None
    base = Path(next(iter(spec.submodule_search_locations))).joinpath(*rest)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


_PARSE_LOCK = threading.Lock()
_PARSE_ATTEMPTS = 5


@cache
def _parse(path: Path) -> ast.Module:
    """The module's AST. CPython 3.11 keeps the AST builder's recursion counter per interpreter, not per thread
    (python/cpython#106905): two threads building ASTs at once (a Prefect flow run loads its entrypoint with `ast`
    while another thread validates a recipe) can fail with a spurious "AST constructor recursion depth mismatch"
    SystemError. Our own parses are serialised; one that races another library's is tried again."""
    source = path.read_text(encoding="utf-8")
    attempt = 1
    while True:
        try:
            with _PARSE_LOCK:
                return ast.parse(source, filename=str(path))
        except SystemError as exc:
            if "recursion depth mismatch" not in str(exc) or attempt >= _PARSE_ATTEMPTS:
                raise
            attempt += 1


def _find_class(module: str, name: str) -> tuple[ast.ClassDef, str] | None:
    """The class `name` as defined in `module`, or in a top-level module of that package (lazy re-exports)."""
    path = _module_file(module)
    if path is None:
        return None
    candidates = [path]
    if path.name == "__init__.py":
        defines = re.compile(rf"^class {name}\b", re.M)
        candidates += sorted(p for p in path.parent.glob("*.py") if defines.search(p.read_text(encoding="utf-8")))
    for candidate in candidates:
        for node in _parse(candidate).body:
            if isinstance(node, ast.ClassDef) and node.name == name:
                owner = module if candidate == path else f"{module}.{candidate.stem}"
                return node, owner
    return None


def _base_module(owner: str, tree: ast.Module, base: str) -> str | None:
    """The module a base class name is imported from in `owner`'s source (absolute or relative import)."""
    package = owner.rsplit(".", 1)[0]
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and any(alias.name == base for alias in node.names):
            if node.level:
                parts = package.split(".")
                prefix = ".".join(parts[: len(parts) - node.level + 1])
                return f"{prefix}.{node.module}" if node.module else prefix
            return node.module
    return owner  # defined in the same module


def _fields(module: str, name: str) -> set[str]:
    found = _find_class(module, name)
    if found is None:
        return set()
    node, owner = found
    names = {s.target.id for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)}
    tree = _parse(_module_file(owner) or Path())
    for base in node.bases:
        if isinstance(base, ast.Name):
            base_module = _base_module(owner, tree, base.id)
            if base_module:
                names |= _fields(base_module, base.id)
    return {n for n in names if not n.startswith("_")}


@cache
def trainer_option_names(stage: str) -> frozenset[str]:
    """Every option name of the stage's TRL config class (including transformers' TrainingArguments)."""
    module, name = CONFIG_CLASSES[stage]
    names = _fields(module, name)
    if not names:
        raise RuntimeError(f"cannot read the options of {module}.{name}: is trl installed?")
    return frozenset(names)
