"""SCRUB: a student moves away from its teacher on D_f and stays close to it on D_r.

Paper: Kurmanji, Triantafillou, Hayes, Triantafillou, "Towards Unbounded Machine Unlearning",
NeurIPS 2023 (official code: github.com/meghdadk/SCRUB).

Algorithm: the teacher is a frozen copy of the original model, the student starts from it.
Each epoch e = 1..E:
  - if e ≤ max_epochs, a *max* pass over D_f:  L = −KL_T(teacher ‖ student);
  - then a *min* pass over D_r:  L = γ·CE(student, y) + α·KL_T(teacher ‖ student),
with KL_T the temperature-T distillation loss (T = 4, scaled by T²), SGD (momentum 0.9,
weight decay 5e-4) at a constant learning rate, forget batches smaller than retain batches.

Deviations (docs/methods.md#scrub has the table): the official code keeps one optimizer across
the passes; here every pass is one call of the shared training loop, so SGD momentum restarts at
each pass (the learning rate is the same constant). The official large-scale setting (lr 5e-4,
forget batch 512, retain batch 256) barely moves a small model in a few epochs; the defaults are
lr 0.01 and batches 32 / 64. `max_steps` is NOT from the paper: this project caps a max pass at
`max_steps` batches (a fresh random part of D_f each epoch), because the max loss is unbounded,
so its damage grows with the number of ascent steps, not with the share of data forgotten.
Measured on shapes class forgetting (1,000 forget images, 32 batches): full max passes left 24%
retain accuracy; 5 steps (digits' class has 5 batches anyway) keep it within a point of retraining.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.methods.base import MethodConfig, RunContext, UnlearnData, UnlearnResult, param
from unlearn_core.methods.common import (
    StageProgress,
    batch_size_param,
    frozen_copy,
    kd_loss,
    lr_param,
    run_fit,
    train_config,
)
from unlearn_core.methods.registry import register_method
from unlearn_core.models import SplitClassifier
from unlearn_core.train import Batches, LossFn


class ScrubConfig(MethodConfig):
    caveats: ClassVar[str] = (
        "Over-forgets non-IID forget sets. For sample forgetting use DEL or fine-tune."
    )
    caveat_results: ClassVar[tuple[str, ...]] = ("digits-random_0.1@2_5",)
    epochs: int = param(3, "Epochs (each: an optional max pass over D_f, then a min pass over D_r)",
                        min=1, max=100, paper="3 (large-scale setting)")
    max_epochs: int = param(2, "Epochs that start with a max pass over D_f (msteps)", min=0, max=100, paper="2")
    max_steps: int = param(5, "Ascent steps per max pass at most (a random part of D_f when it has more batches). "
                           "Not from the paper: this project's cap, since the max loss is unbounded and 32 steps on "
                           "a 1,000-image class wrecked the shapes model",
                           min=1, max=1_000_000, paper="none: the paper runs a full pass over D_f")
    lr: float = lr_param(0.01, "SGD, constant", paper="5e-4 (large-scale setting)",
                         note="5e-4 barely moves a small model in 3 epochs")
    temperature: float = param(4.0, "Distillation temperature T", min=0.1, max=100.0, paper="4")
    gamma: float = param(0.99, "Weight of CE in the min pass", min=0.0, max=10.0, paper="0.99")
    alpha: float = param(0.001, "Weight of KL(teacher ‖ student) in the min pass", min=0.0, max=10.0, paper="0.001")
    batch_size: int = batch_size_param(64, paper="256 (large-scale setting)", what="Retain mini-batch size")
    forget_batch_size: int = batch_size_param(32, paper="512 (large-scale setting)", what="Forget mini-batch size")


def _max_loss(teacher: nn.Module, temperature: float) -> LossFn:
    def loss(student: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x = batch[0]
        with torch.no_grad():
            target = teacher(x)
        return -kd_loss(student(x), target, temperature)

    return loss


def _min_loss(teacher: nn.Module, temperature: float, gamma: float, alpha: float) -> LossFn:
    def loss(student: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, y = batch
        with torch.no_grad():
            target = teacher(x)
        logits = student(x)
        return gamma * F.cross_entropy(logits, y) + alpha * kd_loss(logits, target, temperature)

    return loss


@register_method(
    title="SCRUB",
    paper="Kurmanji et al., Towards Unbounded Machine Unlearning, NeurIPS 2023",
    touches="all parameters; reads D_r and D_f",
)
def scrub(model: SplitClassifier, data: UnlearnData, config: ScrubConfig, ctx: RunContext) -> UnlearnResult:
    """Alternate max passes on D_f (away from the teacher) and min passes on D_r (towards it)."""
    teacher = frozen_copy(model)
    n_ascent = min(len(data.x_forget), config.max_steps * config.forget_batch_size)
    retain = Batches(data.x_retain, data.y_retain, batch_size=config.batch_size)
    n_max = min(config.max_epochs, config.epochs)
    stages = StageProgress(ctx.progress, n_max * -(-n_ascent // config.forget_batch_size)
                           + config.epochs * len(retain))
    max_loss = _max_loss(teacher, config.temperature)
    min_loss = _min_loss(teacher, config.temperature, config.gamma, config.alpha)
    for epoch in range(config.epochs):
        passes = []
        if epoch < n_max:
            part = torch.randperm(len(data.x_forget), generator=torch.Generator().manual_seed(ctx.seed * 1000 + epoch))
            part = part[:n_ascent]
            forget = Batches(data.x_forget[part], data.y_forget[part], batch_size=config.forget_batch_size)
            passes.append(("max", forget, max_loss))
        passes.append(("min", retain, min_loss))
        for k, (kind, batches, loss_fn) in enumerate(passes):
            recipe = train_config(config, ctx, epochs=1, schedule="constant", seed=ctx.seed * 1000 + 2 * epoch + k)
            run_fit(model, batches, recipe, ctx, label=kind, loss_fn=loss_fn,
                    progress=stages.stage(len(batches), f"SCRUB: epoch {epoch + 1}/{config.epochs}, {kind} pass"))
    return UnlearnResult(model)
