"""Random labels (RL): fine-tune on D_f relabelled with random wrong classes, together with D_r.

Papers: Golatkar, Achille, Soatto, "Eternal Sunshine of the Spotless Net", CVPR 2020 (the idea);
Graves, Nagisetty, Ganesh, "Amnesiac Machine Learning", AAAI 2021 (labels from the other
classes); the "RL" baseline of SalUn (Fan et al., ICLR 2024), whose code this follows.

Algorithm: D_f (with its labels replaced) and D_r are concatenated and shuffled; each batch's
forget rows get a fresh uniformly random label from the classes other than the true one; the
model is trained with cross-entropy, SGD (momentum 0.9, weight decay 5e-4), cosine schedule.

Deviations: SalUn's CIFAR-10 code runs a pass over D_f then a pass over D_r per epoch and draws
labels that may equal the true one; here the sets are mixed (SalUn's CIFAR-100 variant) and the
random label is always wrong (Amnesiac), which forgets faster on small data.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..models import SplitClassifier
from ..train import Batches, TrainConfig, fit
from .base import MethodConfig, RunContext, UnlearnData, UnlearnResult, param
from .common import random_label_loss, tagged_union
from .registry import register_method


@dataclass(frozen=True)
class RandomLabelsConfig(MethodConfig):
    epochs: int = param(3, "Epochs over D_f ∪ D_r", min=1, max=200, paper="10 (SalUn, CIFAR-10)")
    lr: float = param(0.02, "SGD learning rate (cosine schedule)", min=1e-6, max=1.0, paper="0.01-0.02 (SalUn, tuned)")
    batch_size: int = param(64, "Mini-batch size", min=1, max=4096, paper="256")


@register_method(
    "random_labels",
    title="Random labels",
    paper="Golatkar et al., CVPR 2020; Graves et al., AAAI 2021 (RL baseline of SalUn, ICLR 2024)",
    config=RandomLabelsConfig,
    touches="all parameters; reads D_r and D_f",
)
def random_labels(model: SplitClassifier, data: UnlearnData, config: RandomLabelsConfig, ctx: RunContext) -> UnlearnResult:
    """Train on D_r with true labels and on D_f with random wrong labels, mixed."""
    random_label_finetune(model, data, config, ctx, label="random labels")
    return UnlearnResult(model)


def random_label_finetune(
    model: SplitClassifier,
    data: UnlearnData,
    config: MethodConfig,
    ctx: RunContext,
    *,
    label: str,
    grad_mask: dict[str, torch.Tensor] | None = None,
) -> None:
    """The shared RL training: D_f with fresh random wrong labels mixed with D_r, in place.

    `config` needs `epochs`, `lr` and `batch_size`; SalUn passes its saliency mask as `grad_mask`.
    """
    x, y, is_forget = tagged_union(data.x_forget, data.y_forget, data.x_retain, data.y_retain)
    recipe = TrainConfig(epochs=config.epochs, lr=config.lr, batch_size=config.batch_size, seed=ctx.seed)
    fit(model, Batches(x, y, is_forget, batch_size=config.batch_size), recipe, device=ctx.device,
        loss_fn=random_label_loss(data.num_classes, ctx.seed), grad_mask=grad_mask, progress=ctx.progress,
        should_stop=ctx.should_stop, progress_label=label)
