"""Partial-PGD: a PGD attack on penultimate features instead of images (Layer Attack Unlearning).

Given features z = g(x) and a classification head h, K steps of

    z ← z + a · sign(∇z CE(h(z), y)),   z ← z0 + clip(z − z0, −ε, ε),   (z ← max(z, 0) if post-ReLU)

move each sample across the head's decision boundary within an L∞ ball around its own
features. `a` and `ε` may be per-dimension vectors: Layer Attack Unlearning uses multiples of
the feature scale, the per-dimension mean |z| over the attacked samples (`feature_scale`),
because feature magnitudes differ across models while the paper's a = 0.4, ε = 0.3 assume a
fixed scale. The non-negative clamp keeps the point inside the ball (z0 ≥ 0 there).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class FeatureAttack:
    """Result of Partial-PGD on a set of samples (CPU tensors, for the UI and for LAU)."""

    z: torch.Tensor  # [N, D] original features
    z_adv: torch.Tensor  # [N, D] attacked features
    y: torch.Tensor  # [N] labels attacked away from
    adv_class: torch.Tensor  # [N] argmax of the head on z_adv
    eps: torch.Tensor  # [D] radius per dimension
    step: torch.Tensor  # [D] step per dimension
    nonnegative: bool  # whether the features were clamped at 0

    @property
    def flipped(self) -> torch.Tensor:
        """[N] bool: the head no longer predicts the label on the attacked features."""
        return self.adv_class != self.y

    @property
    def perturbation(self) -> torch.Tensor:
        """[D] mean |z_adv − z| per feature dimension: which dimensions the attack moved most."""
        return (self.z_adv - self.z).abs().mean(dim=0)


def feature_scale(z: torch.Tensor) -> torch.Tensor:
    """Per-dimension mean |z| [D] (dimensions that are always 0 get scale 0: the attack leaves them)."""
    return z.detach().abs().float().mean(dim=0)


def partial_pgd(
    head: nn.Module,
    z: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: torch.Tensor | float,
    step: torch.Tensor | float,
    steps: int = 40,
    nonnegative: bool = False,
) -> torch.Tensor:
    """Untargeted L∞ PGD on features `z` [N, D] against `head`, maximising CE(head(z), y).

    `eps` and `step` are scalars or [D] vectors. Returns the attacked features (detached, same
    device as `z`); `head`'s parameters receive no gradient.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0; got {steps}")
    z0 = z.detach()
    eps_t = torch.as_tensor(eps, dtype=z0.dtype, device=z0.device)
    step_t = torch.as_tensor(step, dtype=z0.dtype, device=z0.device)
    adv = z0.clone()
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = F.cross_entropy(head(adv), y)
        (grad,) = torch.autograd.grad(loss, [adv])
        with torch.no_grad():
            adv = adv + step_t * grad.sign()
            adv = z0 + torch.maximum(torch.minimum(adv - z0, eps_t), -eps_t)
            if nonnegative:
                adv = adv.clamp_min(0.0)
    return adv.detach()


def attack_features(
    head: nn.Module,
    z: torch.Tensor,
    y: torch.Tensor,
    *,
    eps_rel: float = 0.3,
    step_rel: float = 0.4,
    steps: int = 40,
    scale: torch.Tensor | None = None,
) -> FeatureAttack:
    """Partial-PGD with ε = eps_rel · scale and a = step_rel · scale per dimension.

    `scale` defaults to `feature_scale(z)`. Features are clamped at 0 only if every given
    feature is non-negative (post-ReLU). Runs where `head` lives; returns CPU tensors.
    """
    device = next(head.parameters()).device
    z_d, y_d = z.detach().float().to(device), y.to(device)
    scale = feature_scale(z_d) if scale is None else scale.to(device)
    nonneg = bool((z_d >= 0).all())
    eps, step = eps_rel * scale, step_rel * scale
    z_adv = partial_pgd(head, z_d, y_d, eps=eps, step=step, steps=steps, nonnegative=nonneg)
    with torch.no_grad():
        adv_class = head(z_adv).argmax(dim=1)
    return FeatureAttack(z_d.cpu(), z_adv.cpu(), y.cpu(), adv_class.cpu(), eps.cpu(), step.cpu(), nonneg)
