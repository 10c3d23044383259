"""Field types shared by the stages' recipe sections."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A recipe section: unknown keys are errors, so a typo is named when the recipe loads."""

    model_config = ConfigDict(extra="forbid")


class _RecipeRelative:
    """Marks a field whose `./x` and `../x` values mean relative to the recipe file that names them."""

    def __repr__(self) -> str:
        return "RecipeRelative"


RECIPE_RELATIVE = _RecipeRelative()

# A Hub id or a local path; a relative local path resolves against the recipe file (knowrl/config/recipe.py).
RecipePath = Annotated[str, RECIPE_RELATIVE]
