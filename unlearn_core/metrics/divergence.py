"""Distances between two models' predictions on the same samples (e.g. unlearned vs retrained).

Convention: per-sample divergence summed over classes,
natural log, then averaged over samples. So JS is in [0, ln 2]. (Bad-Teacher/SSD code averages
over classes instead, which shrinks values by about 1/num_classes; not used here.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_pair(logits_p: torch.Tensor, logits_q: torch.Tensor) -> None:
    if logits_p.shape != logits_q.shape or logits_p.ndim != 2:
        raise ValueError(
            f"logits must be two [N, K] tensors of the same shape; got {tuple(logits_p.shape)} and {tuple(logits_q.shape)}"
        )


def js_per_sample(logits_p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon divergence of softmax(logits_p) and softmax(logits_q) per sample: [N] float64."""
    _check_pair(logits_p, logits_q)
    p = F.softmax(logits_p.double(), dim=1)  # [N, K]
    q = F.softmax(logits_q.double(), dim=1)
    m = (p + q) / 2
    # xlogy gives 0 * log 0 = 0, so one-hot predictions are exact
    kl_pm = (torch.xlogy(p, p) - torch.xlogy(p, m)).sum(1)
    kl_qm = (torch.xlogy(q, q) - torch.xlogy(q, m)).sum(1)
    return ((kl_pm + kl_qm) / 2).clamp_min(0.0)


def js_divergence(logits_p: torch.Tensor, logits_q: torch.Tensor) -> float:
    """Mean per-sample Jensen-Shannon divergence (natural log, in [0, ln 2]); NaN for no samples."""
    if len(logits_p) == 0 and len(logits_q) == 0:
        return float("nan")
    return float(js_per_sample(logits_p, logits_q).mean())


def kl_divergence(logits_p: torch.Tensor, logits_q: torch.Tensor) -> float:
    """Mean per-sample KL(p || q) between softmax predictions (natural log); NaN for no samples."""
    _check_pair(logits_p, logits_q)
    if len(logits_p) == 0:
        return float("nan")
    log_p = F.log_softmax(logits_p.double(), dim=1)
    log_q = F.log_softmax(logits_q.double(), dim=1)
    return float((log_p.exp() * (log_p - log_q)).sum(1).mean())
