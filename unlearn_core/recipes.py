"""Training recipes: the TrainConfig an original model is trained with, per dataset and architecture.

The Retrain oracle reuses a model's recipe on the retain set; the shipped default models
(`unlearn_core.models.defaults`) are trained with exactly these recipes.
"""

from __future__ import annotations

import dataclasses

from unlearn_core.train import TrainConfig

# (dataset, architecture) -> recipe. Unlisted pairs use GENERIC_RECIPE.
RECIPES: dict[tuple[str, str], TrainConfig] = {
    ("digits", "small_cnn"): TrainConfig(epochs=10, lr=0.05, batch_size=64),
    ("shapes", "small_cnn"): TrainConfig(epochs=14, lr=0.05, batch_size=128),  # 8 left retrains at 92-95%
    ("shapes", "resnet18"): TrainConfig(epochs=10, lr=0.05, batch_size=128),
}
GENERIC_RECIPE = TrainConfig(epochs=15, lr=0.05, batch_size=128)


def recipe_for(dataset: str, arch: str, seed: int = 0, **overrides: object) -> TrainConfig:
    """The training recipe for `arch` on `dataset`, with `seed` and any overrides applied."""
    base = RECIPES.get((dataset, arch), GENERIC_RECIPE)
    return dataclasses.replace(base, seed=seed, **overrides)
