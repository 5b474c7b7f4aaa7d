"""Boundary Shrink: relabel each forget sample with its nearest wrong class and fine-tune on D_f.

Paper: Chen, Gao, Zhou, Lan, Xu, "Boundary Unlearning: Rapid Forgetting of Deep Networks via
Shifting the Decision Space", CVPR 2023. The attack follows SalUn's `boundary_sh.py`.

Algorithm:
  1. On a frozen copy of the original model (eval mode), one FGSM step per forget sample:
     x_adv = clip(x + ε·sign ∇_x CE(f_o(x), y), 0, 1), ε = 0.1 on the [0, 1] pixel scale.
  2. The neighbour label y_nb = argmax f_o(x_adv): the class just across the nearest boundary.
  3. Fine-tune the model on (x_f, y_nb) only, with cross-entropy (SGD, cosine schedule).
The neighbour labels are returned as the artifact ``neighbor_labels`` (aligned with D_f), with
``attack_flipped`` telling which samples the one-step attack actually pushed across a boundary.

Deviations: the shared loop's cosine schedule and weight decay 5e-4, where the official code uses a
constant rate and no weight decay (the default rate below was measured with them); the attack is
computed once up front (the original model is frozen, so it is the
same at every epoch). When the one-step attack does not change the prediction, the paper's
label would be the true class (training would keep, not forget, that sample); by default the
most likely *wrong* class on x_adv is used instead (``wrong_class_only``, on by default; turn
it off for the paper's behaviour). Class forgetting only, as in the paper: on a random 10% of
digits, fine-tuning on D_f alone with wrong labels wrecked every class (retain accuracy 0.28).
The model trains in train mode (BatchNorm on batch statistics, as in the paper); freezing
BatchNorm made the D_f-only fine-tuning diverge on digits. The paper's lr 1e-5 for 10 epochs
is for large models; the default 1.5e-3 is measured on both built-in sets (class 3): avg gap to
retrain 0.66 points on digits (146 forget images) and 4.1 on shapes (1,000); at 1e-2 digits did as
well but shapes kept only 54% retain accuracy, since fine-tuning on D_f alone drags every class.

Documentation (defaults with their measurements, deviations): docs/methods.md#boundary_shrink.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.methods.base import MethodConfig, RunContext, UnlearnData, UnlearnResult, param
from unlearn_core.methods.common import batch_size_param, epochs_param, frozen_copy, lr_param, run_fit, train_config
from unlearn_core.methods.registry import register_method
from unlearn_core.models import SplitClassifier
from unlearn_core.train import Batches


class BoundaryShrinkConfig(MethodConfig):
    caveats: ClassVar[str] = (
        "On the large shapes class it costs retain accuracy, and a higher lr costs more. DEL, UNSIR, RFA or "
        "concept poisoning stay closer to retraining there."
    )
    caveat_results: ClassVar[tuple[str, ...]] = ("shapes-class_3",)
    epsilon: float = param(0.1, "FGSM step size on the [0, 1] pixel scale", min=0.0, max=1.0, paper="0.1")
    epochs: int = epochs_param(10, "D_f with the neighbour labels", paper="10")
    lr: float = lr_param(1.5e-3, "SGD, cosine schedule", paper="1e-5 (constant, no weight decay)",
                         note="Higher rates forget large classes at the cost of every other class")
    batch_size: int = batch_size_param(64, paper="64")
    wrong_class_only: bool = param(True, "If the attack leaves the prediction unchanged, take the most likely "
                                   "wrong class instead of the true one", paper="off")


def neighbor_labels(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epsilon: float, wrong_class_only: bool,
    device: torch.device, batch_size: int = 256,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(labels, flipped): the class `model` predicts after one FGSM step, and whether it changed.

    `model` should be a frozen eval-mode copy; labels and flags come back on the CPU.
    """
    labels, flipped = [], []
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].to(device).requires_grad_(True)
        yb = y[i : i + batch_size].to(device)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(xb), yb), xb)
        with torch.no_grad():
            x_adv = (xb + epsilon * grad.sign()).clamp(0.0, 1.0)
            logits = model(x_adv)  # [B, K]
            pred = logits.argmax(1)
            if wrong_class_only:
                logits = logits.scatter(1, yb[:, None], float("-inf"))
            labels.append(logits.argmax(1).cpu())
            flipped.append((pred != yb).cpu())
    return torch.cat(labels), torch.cat(flipped)


@register_method(
    title="Boundary Shrink",
    paper="Chen et al., Boundary Unlearning, CVPR 2023",
    touches="all parameters; reads D_f only",
    forget_kinds=("class",),
)
def boundary_shrink(model: SplitClassifier, data: UnlearnData, config: BoundaryShrinkConfig,
                    ctx: RunContext) -> UnlearnResult:
    """Fine-tune on D_f relabelled with the class a one-step attack on the original reaches."""
    y_nb, flipped = neighbor_labels(
        frozen_copy(model), data.x_forget, data.y_forget, epsilon=config.epsilon,
        wrong_class_only=config.wrong_class_only, device=ctx.device,
    )
    run_fit(model, Batches(data.x_forget, y_nb, batch_size=config.batch_size), train_config(config, ctx), ctx,
            label="Boundary Shrink")
    return UnlearnResult(model, artifacts={"neighbor_labels": y_nb.numpy(), "attack_flipped": flipped.numpy()})
