"""Per-example forgetting quality: how well can an attacker tell the unlearned models from the
retrained ones on each forget example? (NeurIPS 2023 Machine Unlearning Challenge; Triantafillou
et al. 2024, "Are we making progress in unlearning?", arXiv 2406.09073.)

For every forget example x, each of K unlearned models and K retrained models gives one number,
the logit-scaled confidence of the true label, log(p_y / (1 - p_y)) (LiRA's statistic, Carlini
et al. 2022; `metrics.scaled_confidence`). An attack is a decision rule on that number ("this output came from an unlearned
model"); each rule has a false-positive rate (FPR) and false-negative rate (FNR) over the 2K
outputs. An (ε, δ)-indistinguishability bound forces, for every rule,
FPR + e^ε FNR ≥ 1 - δ and FNR + e^ε FPR ≥ 1 - δ, so each rule gives the lower bound

    ε ≥ max(log(1 - δ - FPR) - log FNR,  log(1 - δ - FNR) - log FPR)

and the example's ε is the largest bound over the rule families below (δ = 1e-5, capped at 50):

- single threshold: "unlearned" on one side of a threshold t (every t between pooled values);
- double threshold: "the peakier side" inside an interval [l, r] whose width is within 2 of that
  side's range (the challenge's second family, which catches a narrow distribution sitting inside
  a wide one);
- a rule with FPR = FNR = 0 separates the two sets: ε = ∞ (capped); a rule with exactly one of
  them 0 is discarded, as in the challenge (a sign of too few samples, not of separation);
- a side whose outputs span less than 1% of the other side's range is a near point mass (e.g. a
  method that ignores its seed): ε is set to the cap, as in the challenge.

The aggregate forgetting quality F ∈ [0, 1] is the mean over forget examples of 2^-(bin of ε),
bins 0.5 wide, from 1 (ε < 0.5) halving per bin up to log(K - 1) rounded up, beyond which an
example scores 0: with K models per side no finite ε above ~log(K - 1) can be estimated.

Written from the challenge's description and metric (its public evaluation code), in this
project's own vectorised NumPy: thresholds are enumerated exactly at the pooled values instead
of on a 0.01 grid, and the interval family's location bounds (which only add attacks with no
power) are not imposed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DELTA = 1e-5
EPSILON_CAP = 50.0
BUCKET = 0.5
PEAKY_RATIO = 0.01  # a side spanning < 1% of the other's range is a point mass
INTERVAL_SLACK = 2.0  # the double-threshold family: widths within 2 of the peakier side's range


def epsilon_bound(fpr: np.ndarray, fnr: np.ndarray, delta: float = DELTA) -> np.ndarray:
    """The ε lower bound of each decision rule from its (FPR, FNR): ∞ where both are 0, NaN
    (discarded) where exactly one is, else the larger of the two one-sided bounds, at least 0."""
    fpr, fnr = np.asarray(fpr, dtype=np.float64), np.asarray(fnr, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.log(1.0 - delta - fpr) - np.log(fnr)
        b = np.log(1.0 - delta - fnr) - np.log(fpr)
        eps = np.clip(np.fmax(a, b), 0.0, None)  # fmax: NaN only where both bounds are NaN
    eps = np.where((fpr == 0) & (fnr == 0), np.inf, eps)
    return np.where((fpr * fnr == 0) & ~((fpr == 0) & (fnr == 0)), np.nan, eps)


def _single_threshold_rates(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, FNR) of "positive if value >= t" for t at every pooled value."""
    t = np.unique(np.concatenate([pos, neg]))
    tpr = (pos[None, :] >= t[:, None]).mean(1)
    fpr = (neg[None, :] >= t[:, None]).mean(1)
    return fpr, 1.0 - tpr


def _interval_rates(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, FNR) of "positive if l <= value <= r" for every interval over the pooled values
    whose achievable width meets the peakier side's range within `INTERVAL_SLACK`; `pos` is the
    peakier side."""
    u = np.unique(np.concatenate([pos, neg]))
    width = float(np.ptp(pos))
    i, j = np.triu_indices(len(u))  # the interval holds the pooled values u[i..j]
    lo = np.concatenate([[-np.inf], u])[i]  # the value just outside on each side
    hi = np.concatenate([u, [np.inf]])[j + 1]
    feasible = (u[j] - u[i] <= width + INTERVAL_SLACK) & (hi - lo > width - INTERVAL_SLACK)
    i, j = i[feasible], j[feasible]
    inside = lambda v: ((v[None, :] >= u[i][:, None]) & (v[None, :] <= u[j][:, None])).mean(1)  # noqa: E731
    return inside(neg), 1.0 - inside(pos)


def example_epsilon(unlearned: np.ndarray, retrained: np.ndarray, delta: float = DELTA) -> float:
    """ε of one forget example from its K unlearned and K retrained outputs (see the module doc)."""
    unlearned, retrained = np.asarray(unlearned, np.float64), np.asarray(retrained, np.float64)
    if len(unlearned) < 2 or len(retrained) < 2:
        raise ValueError(f"ε needs at least 2 models per side; got {len(unlearned)} and {len(retrained)}")
    spans = sorted([float(np.ptp(unlearned)), float(np.ptp(retrained))])
    if spans[1] == 0.0:  # both sides constant: equal (indistinguishable) or perfectly separable
        return 0.0 if unlearned[0] == retrained[0] else EPSILON_CAP
    if spans[0] / spans[1] < PEAKY_RATIO:
        return EPSILON_CAP
    # the side with the larger median is "positive" for the single threshold
    pos, neg = (retrained, unlearned) if np.median(retrained) > np.median(unlearned) else (unlearned, retrained)
    fpr_s, fnr_s = _single_threshold_rates(pos, neg)
    peaky, wide = (pos, neg) if np.ptp(pos) < np.ptp(neg) else (neg, pos)
    fpr_d, fnr_d = _interval_rates(peaky, wide)
    eps = epsilon_bound(np.concatenate([fpr_s, fpr_d]), np.concatenate([fnr_s, fnr_d]), delta)
    if np.all(np.isnan(eps)):
        return 0.0
    return float(min(np.nanmax(eps), EPSILON_CAP))


def per_example_epsilon(unlearned: np.ndarray, retrained: np.ndarray, delta: float = DELTA) -> np.ndarray:
    """ε of every forget example: `unlearned` [K_u, N] and `retrained` [K_r, N] scaled confidences."""
    unlearned, retrained = np.asarray(unlearned), np.asarray(retrained)
    if unlearned.ndim != 2 or retrained.ndim != 2 or unlearned.shape[1] != retrained.shape[1]:
        raise ValueError(f"need [models, examples] arrays over the same examples; got {unlearned.shape} "
                         f"and {retrained.shape}")
    return np.array([example_epsilon(unlearned[:, n], retrained[:, n], delta) for n in range(unlearned.shape[1])])


def max_scored_epsilon(k: int) -> float:
    """The largest ε that still earns points with `k` models per side: ceil(log(k - 1))."""
    return float(math.ceil(math.log(k - 1))) if k > 2 else 0.0


def example_points(eps: np.ndarray, k: int) -> np.ndarray:
    """Each example's share of F: 2^-b for ε in bin b = floor(ε / 0.5), 0 from `max_scored_epsilon(k)` on."""
    eps = np.asarray(eps, dtype=np.float64)
    points = np.power(0.5, np.floor(eps / BUCKET))
    return np.where(eps < max_scored_epsilon(k), points, 0.0)


def null_forgetting_quality(k: int, n: int = 2000, seed: int = 0) -> float:
    """F when unlearned and retrained models come from one distribution, at `k` models per side:
    the best any method can expect at this K (with few models the threshold rules overfit, so F of
    retraining against retraining is well below 1; measured 0.18 at K = 8). Simulated on `n`
    examples of Gaussian outputs (seeded); ε depends almost only on the ranks of the 2K values,
    so the distribution's shape barely matters."""
    rng = np.random.default_rng(seed)
    return forgetting_quality(rng.normal(size=(k, n)), rng.normal(size=(k, n))).score


@dataclass(frozen=True)
class ForgettingQuality:
    """F and the per-example ε behind it."""

    score: float  # F in [0, 1]; 1 = no forget example tells unlearned from retrained models
    epsilons: np.ndarray  # [N] per forget example
    k: int  # models per side


def forgetting_quality(unlearned: np.ndarray, retrained: np.ndarray, delta: float = DELTA) -> ForgettingQuality:
    """F from the scaled confidences of `unlearned` [K, N] and `retrained` [K', N] models; F needs at
    least 3 models per side to score anything (with K models, ε above ceil(log(K - 1)) scores 0)."""
    eps = per_example_epsilon(unlearned, retrained, delta)
    k = min(np.asarray(unlearned).shape[0], np.asarray(retrained).shape[0])
    score = float(example_points(eps, k).mean()) if len(eps) else float("nan")
    return ForgettingQuality(score, eps, k)
