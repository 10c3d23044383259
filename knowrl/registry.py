"""The stages of the pipeline, in run order: the only list of stages.

Adding a stage: a package with its config, result, run function and report, a `StageSpec` in its `spec.py`, a line
here, and a line in the flow (flows/knowrl_flow.py). Everything else (the recipe's sections, cache keys, tasks,
`knowrl status`, the cached-run check, the deployments' check) reads this registry.
"""

from __future__ import annotations

from pathlib import Path

from knowrl.config.recipe import RecipeBase
from knowrl.config.recipe import load_recipe as _load_recipe
from knowrl.curate.spec import CURATE
from knowrl.data.spec import DATA
from knowrl.evaluate.spec import EVALUATE
from knowrl.knowledge.spec import KNOWLEDGE
from knowrl.pipeline.spec import Registry
from knowrl.publish.spec import PUBLISH
from knowrl.train.spec import GRPO, SFT

REGISTRY = Registry([DATA, KNOWLEDGE, SFT, CURATE, GRPO, EVALUATE, PUBLISH])


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> RecipeBase:
    """A recipe of this pipeline's stages (knowrl.config.recipe.load_recipe over the registry)."""
    return _load_recipe(REGISTRY, path, overrides)
