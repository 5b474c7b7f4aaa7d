"""SSD, Selective Synaptic Dampening: shrink the parameters far more important to D_f than to D.

Paper: Foster, Schoepf, Brintrup, "Fast Machine Unlearning Without Retraining Through Selective
Synaptic Dampening", AAAI 2024 (official code: github.com/if-loops/selective-synaptic-dampening).

Algorithm (no training):
  1. Diagonal Fisher importances, with the model in eval mode: I_D = mean over mini-batches of
     (∇θ CE)² on the full train set D, and I_f the same on D_f (same batch size).
  2. Select every parameter entry with I_f > α·I_D (selection weight α).
  3. Dampen the selected entries: θ ← θ · min(λ·I_D / I_f, 1) (dampening constant λ).
The selection is returned as the result's mask (1 = dampened).

Deviations: none in the algorithm. BatchNorm running statistics are left as they are (only
parameters are dampened, as in the official code); the Fisher pass runs in eval mode so it does
not change them either.

Default α = 50, not the paper's 10 (measured on digits, small CNN of width 16, ~20k parameters):
the importances are squared *mini-batch* gradients as in the official code, so a forget batch of
one class adds up coherently while a mixed batch of D dilutes it, and at α = 10 a quarter of all
entries were selected and retain accuracy fell to ~0.2. On a model this small SSD is a cliff: over
3 trained models x 4 class forget sets, α = 50 forgot with retain accuracy kept in 7 of 12 cases,
collapsed in 2 and selected nothing (no forgetting) in 3 (two-class sets); no α or λ, batch size,
or restriction to weight tensors did better than 8 of 12 (batching D in class order, as the
official code's unshuffled class-wise loader does, did not help either: 5 of 12 at α = 5). λ barely
matters, since a selected entry is scaled by at most λ/α. Expect to tune α per model; random
forget sets select almost nothing (no forgetting, like the retrained model on digits).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..models import SplitClassifier
from ..progress import ProgressEvent, ProgressFn, StopFn, check_stop
from ..train import Batches
from .base import MethodConfig, RunContext, UnlearnData, UnlearnResult, param
from .registry import register_method


@dataclass(frozen=True)
class SSDConfig(MethodConfig):
    alpha: float = param(50.0, "Selection weight α: dampen entries with I_f > α·I_D (50 measured on digits; "
                         "tune it per model: too low wrecks the model, too high selects nothing)", min=0.0, max=1e6,
                         paper="10 (ResNet, CIFAR); 5 (ViT)")
    dampening: float = param(1.0, "Dampening constant λ: θ ← θ·min(λ·I_D/I_f, 1)", min=0.0, max=1e6, paper="1")
    batch_size: int = param(64, "Mini-batch size of the Fisher passes (same for D and D_f)", min=1, max=4096)


def diagonal_fisher(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int,
    device: torch.device,
    should_stop: StopFn,
    on_batch: ProgressFn | None = None,
) -> dict[str, torch.Tensor]:
    """Mean over mini-batches of the squared CE gradient of every parameter (eval mode)."""
    params = {n: p for n, p in model.named_parameters()}
    fisher = {n: torch.zeros_like(p) for n, p in params.items()}
    batches = Batches(x, y, batch_size=batch_size, shuffle=False)
    model.eval()
    for i, (xb, yb) in enumerate(batches.epoch(torch.Generator())):
        check_stop(should_stop)
        loss = F.cross_entropy(model(xb.to(device)), yb.to(device))
        grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
        for (name, _), g in zip(params.items(), grads, strict=True):
            if g is not None:
                fisher[name] += g.pow(2)
        if on_batch is not None:
            on_batch(ProgressEvent(i + 1, len(batches)))
    return {n: f / len(batches) for n, f in fisher.items()}


@torch.no_grad()
def dampen(
    model: nn.Module, fisher_full: dict[str, torch.Tensor], fisher_forget: dict[str, torch.Tensor],
    alpha: float, dampening: float,
) -> dict[str, torch.Tensor]:
    """Dampen the entries with I_f > α·I_D in place; return the 0/1 selection mask per parameter."""
    mask = {}
    for name, p in model.named_parameters():
        i_d, i_f = fisher_full[name], fisher_forget[name]
        selected = i_f > alpha * i_d
        factor = (dampening * i_d / i_f.clamp_min(torch.finfo(i_f.dtype).tiny)).clamp(max=1.0)
        p.mul_(torch.where(selected, factor, torch.ones_like(factor)))
        mask[name] = selected.to(torch.float32).cpu()
    return mask


@register_method(
    "ssd",
    title="SSD (Selective Synaptic Dampening)",
    paper="Foster et al., Fast Machine Unlearning Without Retraining Through Selective Synaptic Dampening, AAAI 2024",
    config=SSDConfig,
    touches="parameter entries much more important to D_f than to D (Fisher ratio); no training; reads D",
    localized=True,
)
def ssd(model: SplitClassifier, data: UnlearnData, config: SSDConfig, ctx: RunContext) -> UnlearnResult:
    """Scale down the weights whose Fisher importance on D_f dominates their importance on D."""
    train = data.dataset.train
    n_full = len(Batches(train.x, batch_size=config.batch_size))
    n_forget = len(Batches(data.x_forget, batch_size=config.batch_size))
    total = n_full + n_forget + 1

    def report(offset: int, label: str) -> ProgressFn:
        return lambda e: ctx.report(offset + e.step, total, f"SSD: {label} ({e.step}/{e.total})")

    common = {"batch_size": config.batch_size, "device": ctx.device, "should_stop": ctx.should_stop}
    fisher_full = diagonal_fisher(model, train.x, train.y, **common, on_batch=report(0, "importance on D"))
    fisher_forget = diagonal_fisher(model, data.x_forget, data.y_forget, **common,
                                    on_batch=report(n_full, "importance on D_f"))
    check_stop(ctx.should_stop)
    mask = dampen(model, fisher_full, fisher_forget, config.alpha, config.dampening)
    n_selected = sum(int(m.sum()) for m in mask.values())
    n_total = sum(m.numel() for m in mask.values())
    ctx.report(total, total, "SSD: dampened", selected_fraction=n_selected / n_total)
    return UnlearnResult(model, mask=mask, artifacts={
        "selected_per_parameter": {n: int(m.sum()) for n, m in mask.items()},
        "selected_fraction": n_selected / n_total,
    })
