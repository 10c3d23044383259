"""Model resolution: Hub ids (+ revision), local paths, and the demo's tiny model built on the spot."""

from knowrl.models.loading import ModelSourceError, resolve_model

__all__ = ["ModelSourceError", "resolve_model"]
