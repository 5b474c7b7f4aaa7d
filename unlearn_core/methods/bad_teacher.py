"""Bad-Teacher: distil from a competent teacher on D_r and from an incompetent one on D_f.

Paper: Chundawat, Tarun, Mandal, Kankanhalli, "Can Bad Teaching Induce Forgetting? Unlearning in
Deep Networks Using an Incompetent Teacher", AAAI 2023.

Algorithm: the competent teacher is a frozen copy of the original model; the incompetent teacher
is a randomly initialised model of the same architecture (seeded). The student starts from the
original. Batches mix D_f (tag 1) and a random subset of D_r (tag 0, 30% by default); the target
of a row is softmax(teacher/τ) of the incompetent teacher for tag 1 and of the competent one for
tag 0, and the loss is KL(target ‖ softmax(student/τ)). Adam, constant learning rate.

Deviations: the official code averages the KL over elements (`F.kl_div` default); here it is
averaged over the batch and scaled by τ² (the shared `kd_loss`); Adam is insensitive to that
constant factor. The paper's single epoch at Adam 1e-4 is a handful of steps on small data, so
the digits defaults train longer at a higher rate (see the help texts).

Documentation (defaults with their measurements, deviations): docs/methods.md#bad_teacher.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from unlearn_core.methods.base import MethodConfig, RunContext, UnlearnData, UnlearnResult, param
from unlearn_core.methods.common import (
    ADAM_CONSTANT,
    batch_size_param,
    epochs_param,
    frozen_copy,
    kd_loss,
    lr_param,
    run_fit,
    seeded_build,
    tagged_union,
    train_config,
)
from unlearn_core.methods.registry import register_method
from unlearn_core.models import SplitClassifier
from unlearn_core.train import Batches, LossFn


class BadTeacherConfig(MethodConfig):
    caveats: ClassVar[str] = (
        "Over-forgets random and non-IID forget sets. For sample forgetting use DEL or fine-tune."
    )
    caveat_results: ClassVar[tuple[str, ...]] = ("digits-random_0.1", "digits-random_0.1@2_5")
    epochs: int = epochs_param(5, "the mixed D_f + retain-subset batches", paper="1")
    lr: float = lr_param(1e-3, "Adam, constant", paper="1e-4")
    temperature: float = param(1.0, "KL temperature τ", min=0.1, max=100.0, paper="1")
    retain_fraction: float = param(0.3, "Share of D_r drawn (seeded) to distil from the competent teacher",
                                   min=0.01, max=1.0, paper="0.3")
    batch_size: int = batch_size_param(64, paper="256")


def random_teacher(ctx: RunContext) -> nn.Module:
    """The incompetent teacher: a fresh, seeded random initialisation of the architecture, frozen."""
    return seeded_build(ctx.meta, ctx.seed).to(ctx.device).eval().requires_grad_(False)


def bad_teacher_loss(good: nn.Module, bad: nn.Module, temperature: float) -> LossFn:
    """KL towards the incompetent teacher on forget rows and the competent one on retain rows."""

    def loss(student: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, is_forget = batch
        with torch.no_grad():
            target = torch.where(is_forget[:, None], bad(x), good(x))  # [N, K]
        return kd_loss(student(x), target, temperature)

    return loss


@register_method(
    title="Bad-Teacher",
    paper="Chundawat et al., Can Bad Teaching Induce Forgetting?, AAAI 2023",
    touches="all parameters; reads D_f and a subset of D_r",
)
def bad_teacher(model: SplitClassifier, data: UnlearnData, config: BadTeacherConfig, ctx: RunContext) -> UnlearnResult:
    """Distil the original model on retained data and a random model on the forget set."""
    good, bad = frozen_copy(model), random_teacher(ctx)
    x_r, y_r = data.retain_subset(max(1, round(config.retain_fraction * data.forget.n_retain)), ctx.seed)
    x, _, is_forget = tagged_union(data.x_forget, data.y_forget, x_r, y_r)
    run_fit(model, Batches(x, is_forget, batch_size=config.batch_size), train_config(config, ctx, **ADAM_CONSTANT), ctx,
            label="Bad-Teacher", loss_fn=bad_teacher_loss(good, bad, config.temperature))
    return UnlearnResult(model)
