"""Recipes: one validated config per stage, loaded from YAML with `section.key=value` overrides."""

from knowrl.config.recipe import Recipe, RecipeError, load_recipe
from knowrl.config.stages import (
    DataConfig,
    EvaluateConfig,
    GRPOStageConfig,
    KnowledgeConfig,
    PublishConfig,
    SFTStageConfig,
)

__all__ = [
    "DataConfig",
    "EvaluateConfig",
    "GRPOStageConfig",
    "KnowledgeConfig",
    "PublishConfig",
    "Recipe",
    "RecipeError",
    "SFTStageConfig",
    "load_recipe",
]
