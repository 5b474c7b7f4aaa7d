"""Retrain: the gold standard. A fresh model of the same architecture, trained with the original
model's recipe on the retain set only. Every other method is measured against it.

Documentation (defaults with their measurements, deviations): docs/methods.md#retrain.
"""

from __future__ import annotations

import torch

from unlearn_core.methods.base import MethodConfig, RunContext, UnlearnData, UnlearnResult
from unlearn_core.methods.common import run_fit
from unlearn_core.methods.registry import register_method
from unlearn_core.models import SplitClassifier
from unlearn_core.train import Batches


class RetrainConfig(MethodConfig):
    """Retrain has no parameters: it reuses the original model's training recipe."""


@register_method(
    title="Retrain (oracle)",
    paper="The exact-unlearning reference: train from scratch on D_r",
    touches="all parameters, from a fresh initialisation; reads D_r only",
)
def retrain(model: SplitClassifier, data: UnlearnData, config: RetrainConfig, ctx: RunContext) -> UnlearnResult:
    """Train a freshly initialised copy of the architecture on D_r with the original recipe."""
    torch.manual_seed(ctx.seed)
    fresh = ctx.meta.build().to(ctx.device)
    recipe = ctx.recipe
    run_fit(fresh, Batches(data.x_retain, data.y_retain, batch_size=recipe.batch_size), recipe, ctx, label="retrain")
    return UnlearnResult(fresh)
