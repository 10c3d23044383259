"""Files that ship inside the package: the recipes, the DeepSpeed ZeRO configs and the demo data.

They are found through `importlib.resources`, so an installed wheel works as well as a checkout. The layout is
`recipes/*.yaml`, `recipes/deepspeed/*.json`, `demo/data/*` and `demo/eval/*`; the demo recipe names its data as
`../demo/...`, relative to itself, which holds here as in the repository. In a checkout the top-level `recipes/`,
`demo/data` and `demo/eval` are links to these folders, so `recipes/demo.yaml` is a path from the repository root.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from knowrl.errors import KnowrlError


class ResourceError(KnowrlError, FileNotFoundError):
    """A file that should ship with the package is missing: a wrong name, or an incomplete installation."""


def root() -> Path:
    """The folder holding the packaged files, as a real path (recipes resolve their data paths against it)."""
    folder = files(__name__)
    if not isinstance(folder, Path):
        # A zipped install: recipes and the demo need real files (relative paths, DuckDB and DeepSpeed read them).
        raise ResourceError(
            f"knowrl's packaged files are inside an archive ({folder}); install knowrl-pipeline unzipped"
        )
    return folder


def recipes_dir() -> Path:
    return root() / "recipes"


def recipe_names() -> list[str]:
    """The packaged recipes, by file name (`demo.yaml`, `knowrl-7b.yaml`, ...)."""
    return sorted(p.name for p in recipes_dir().glob("*.yaml"))


def packaged_recipe(name: str) -> Path | None:
    """The packaged recipe called `name` (`demo`, `demo.yaml`), or None when there is none."""
    file = name if name.endswith((".yaml", ".yml")) else f"{name}.yaml"
    path = recipes_dir() / file
    return path if path.is_file() and "/" not in file else None


def deepspeed_config(name: str) -> Path:
    """The DeepSpeed ZeRO config `name` (`zero2`, `zero3`)."""
    path = recipes_dir() / "deepspeed" / f"{name}.json"
    if not path.is_file():
        available = sorted(p.stem for p in (recipes_dir() / "deepspeed").glob("*.json"))
        raise ResourceError(f"DeepSpeed config {name!r} does not ship with knowrl ({path}); choose one of {available}")
    return path


def demo_dir() -> Path:
    """The bundled demo data: `data/` (RL set, cold start, corpus) and `eval/` (the demo's benchmarks)."""
    return root() / "demo"
