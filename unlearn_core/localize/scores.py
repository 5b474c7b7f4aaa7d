"""Parameter scores: how much each parameter entry matters for a set of examples.

Criteria (names as in DEL's official `generate_mask.py`):

- ``weighted_grad``: |Σ_x θ ⊙ ∇θ CE(f(x), y)|, DEL's criterion (on D_f) and, over the whole
  train set, its "data-agnostic criticality".
- ``grad``: |Σ_x ∇θ CE(f(x), y)|, SalUn's gradient saliency.
- ``weight``: |θ|, needs no data.

The gradient is that of the *summed* per-sample cross-entropy over all given examples (DEL and
SalUn sum per-batch mean losses; the ranking is the same up to a constant factor). The model
is in eval mode (BatchNorm uses its running statistics) and is left unchanged (never moved:
it is scored on a copy when it lives on another device). Scores are absolute values, as in
DEL's official code (which takes the absolute value of every tensor's scores in place, 1-D
tensors included).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.device import on_device
from unlearn_core.progress import StopFn, check_stop, never_stop

CRITERIA = ("weighted_grad", "grad", "weight")


def score_parameters(
    model: nn.Module,
    x: torch.Tensor | None,
    y: torch.Tensor | None,
    criterion: str,
    *,
    device: torch.device,
    batch_size: int = 128,
    should_stop: StopFn = never_stop,
    on_batch: Callable[[int, int], None] | None = None,
) -> dict[str, torch.Tensor]:
    """Non-negative score per parameter entry, keyed like `model.named_parameters()`, on the CPU.

    `x`, `y` are the examples to score on (unused for ``weight``). `on_batch(done, total)` is
    called after each batch (progress).
    """
    if criterion not in CRITERIA:
        raise ValueError(f"unknown scoring criterion {criterion!r}; use one of {', '.join(CRITERIA)}")
    named = list(model.named_parameters())
    if criterion == "weight":
        return {n: p.detach().abs().float().cpu() for n, p in named}
    if x is None or y is None or len(x) == 0:
        raise ValueError(f"criterion {criterion!r} needs at least one example to score on")
    if len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} labels")
    grads = _summed_gradients(model, x, y, device=device, batch_size=batch_size,
                              should_stop=should_stop, on_batch=on_batch)
    if criterion == "grad":
        return {n: g.abs() for n, g in grads.items()}
    return {n: (p.detach().float().cpu() * grads[n]).abs() for n, p in named}


def _summed_gradients(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    device: torch.device,
    batch_size: int,
    should_stop: StopFn,
    on_batch: Callable[[int, int], None] | None,
) -> dict[str, torch.Tensor]:
    """∇θ Σ_i CE(f(x_i), y_i) for every parameter (float32, CPU), model in eval mode."""
    names = [n for n, _ in model.named_parameters()]
    total = [torch.zeros_like(p, dtype=torch.float32, device=device) for p in model.parameters()]
    for grads in batch_gradients(model, x, y, device=device, batch_size=batch_size, reduction="sum",
                                 should_stop=should_stop, on_batch=on_batch):
        for acc, g in zip(total, grads, strict=True):
            acc.add_(g)
    return {n: t.cpu() for n, t in zip(names, total, strict=True)}


def batch_gradients(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    device: torch.device,
    batch_size: int,
    reduction: str = "sum",
    should_stop: StopFn = never_stop,
    on_batch: Callable[[int, int], None] | None = None,
) -> Iterator[list[torch.Tensor]]:
    """The CE gradient of every parameter (float32, on `device`, in `model.parameters()` order) for
    each consecutive mini-batch of (x, y), unshuffled; `reduction` of the batch's loss is ``sum`` or
    ``mean``. The model is in eval mode meanwhile (BatchNorm uses its running statistics); its mode
    and `requires_grad` flags are restored afterwards. A parameter outside the forward path gets 0.
    The caller's model is never moved: it is used on a copy when it lives on another device.

    The one gradient loop of the scores here and of SSD's diagonal Fisher (squared batch gradients).
    """
    model = on_device(model, device)
    was_training = model.training
    model.eval()
    params = list(model.parameters())
    n_batches = (len(x) + batch_size - 1) // batch_size
    saved_flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(True)
    try:
        for i, start in enumerate(range(0, len(x), batch_size)):
            check_stop(should_stop)
            xb = x[start : start + batch_size].to(device)
            yb = y[start : start + batch_size].to(device)
            loss = F.cross_entropy(model(xb), yb, reduction=reduction)
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            yield [torch.zeros_like(p, dtype=torch.float32) if g is None else g.float() for p, g in
                   zip(params, grads, strict=True)]
            if on_batch is not None:
                on_batch(i + 1, n_batches)
    finally:
        for p, flag in zip(params, saved_flags, strict=True):
            p.requires_grad_(flag)
        model.train(was_training)
