"""Masks: which parameter entries a localized method may change, under a global budget.

A mask holds exactly ``round(budget · total)`` ones over all parameter entries of the model.
Entries are ranked globally (every tensor competes, the head included) by their score; ties
are broken by position (parameter order, then flat index), so a mask is deterministic.

Granularity:
- ``parameter``: each entry carries its own score (SalUn).
- ``channel``: DEL's aggregation. A weight tensor (ndim > 1) is viewed as |s| [C_out, -1]; each
  output channel scores the mean of its top-h entries, h = max(1, int(0.1 · C_out)) (clipped to
  the row length), and every entry of the channel carries that score. 1-D tensors (biases, norm
  affine parameters) keep |s| per entry. With an exact budget the last channel admitted may be
  selected partially.

Controls that need no scores: ``shallowest`` / ``deepest`` take whole tensors in parameter
order (or reverse order) until the budget is spent, the last one partially (its first entries
in flat order); ``random`` ranks seeded uniform scores (per entry, or per channel).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

GRANULARITIES = ("parameter", "channel")
LAYER_ORDERS = {"shallowest": False, "deepest": True}  # localizer -> reverse parameter order


@dataclass
class LayerSummary:
    """What a mask selects in one parameter tensor, for per-layer bars and channel heatmaps.

    Channels are the rows of the tensor viewed as [C_out, -1] (each entry of a 1-D tensor is its
    own channel). `channel_scores` is the score of each channel (DEL's top-h mean under channel
    granularity, the row mean under parameter granularity; None for layer-order masks).
    """

    name: str
    layer: str
    shape: tuple[int, ...]
    n_total: int
    n_selected: int
    channel_scores: np.ndarray | None
    channel_fraction: np.ndarray
    channel_selected: np.ndarray

    @property
    def fraction(self) -> float:
        return self.n_selected / self.n_total if self.n_total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "layer": self.layer, "shape": list(self.shape), "n_total": self.n_total,
            "n_selected": self.n_selected, "fraction": self.fraction, "channel_scores": self.channel_scores,
            "channel_fraction": self.channel_fraction, "channel_selected": self.channel_selected,
        }


@dataclass
class Mask:
    """A 0/1 float tensor per parameter name (CPU) plus a per-layer summary for the UI.

    `scores` holds the entry scores that were ranked (after granularity aggregation; None for
    layer-order masks), e.g. for score histograms; `summary()` leaves them out.
    """

    masks: dict[str, torch.Tensor]
    layers: list[LayerSummary]
    localizer: str
    granularity: str
    budget: float
    info: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, torch.Tensor] | None = None

    @property
    def n_selected(self) -> int:
        return sum(int(m.sum()) for m in self.masks.values())

    @property
    def n_total(self) -> int:
        return sum(m.numel() for m in self.masks.values())

    @property
    def fraction(self) -> float:
        return self.n_selected / self.n_total if self.n_total else 0.0

    def with_ones(self, names: list[str]) -> dict[str, torch.Tensor]:
        """A copy of the mask dict in which the named parameters are fully selected (e.g. the head)."""
        out = {n: m.clone() for n, m in self.masks.items()}
        for n in names:
            out[n] = torch.ones_like(out[n])
        return out

    def summary(self) -> dict[str, Any]:
        """Plain values for a run's artifacts: settings, totals and every layer's summary."""
        return {
            "localizer": self.localizer, "granularity": self.granularity, "budget": self.budget,
            "n_selected": self.n_selected, "n_total": self.n_total, "fraction": self.fraction,
            "layers": [layer.to_dict() for layer in self.layers], **self.info,
        }


def channel_scores(score: torch.Tensor) -> torch.Tensor:
    """DEL's per-output-channel score [C_out] of one tensor (|s| per entry for 1-D tensors)."""
    a = score.detach().abs().float()
    if a.ndim <= 1:
        return a.reshape(-1)
    rows = a.reshape(a.shape[0], -1)  # [C_out, fan_in]
    h = min(max(1, int(0.1 * rows.shape[0])), rows.shape[1])
    return rows.topk(h, dim=1).values.mean(dim=1)


def aggregate(scores: dict[str, torch.Tensor], granularity: str) -> dict[str, torch.Tensor]:
    """Entry scores at `granularity`: |s| (parameter) or each channel's score broadcast (channel)."""
    _check_granularity(granularity)
    if granularity == "parameter":
        return {n: s.detach().abs().float() for n, s in scores.items()}
    out = {}
    for n, s in scores.items():
        c = channel_scores(s)  # [C_out]
        out[n] = c.reshape(-1, *([1] * (s.ndim - 1))).expand(s.shape).clone() if s.ndim > 1 else c.reshape(s.shape)
    return out


def top_fraction(scores: dict[str, torch.Tensor], budget: float) -> dict[str, torch.Tensor]:
    """Exactly round(budget · total) ones at the highest scores; ties go to the earlier entry."""
    _check_budget(budget)
    names = list(scores)
    flat = torch.cat([scores[n].detach().float().reshape(-1).cpu() for n in names])
    flat = torch.nan_to_num(flat, nan=float("-inf"))
    k = int(round(budget * flat.numel()))
    chosen = torch.zeros(flat.numel())
    if k:
        order = torch.sort(flat, descending=True, stable=True).indices  # stable: ties keep position order
        chosen[order[:k]] = 1.0
    return _split(chosen, {n: scores[n].shape for n in names})


def layer_order_mask(shapes: dict[str, torch.Size], budget: float, *, reverse: bool) -> dict[str, torch.Tensor]:
    """Whole tensors in (reverse) parameter order until round(budget · total) entries are taken."""
    _check_budget(budget)
    total = sum(int(np.prod(s)) for s in shapes.values())
    left = int(round(budget * total))
    out = {}
    for n in reversed(list(shapes)) if reverse else list(shapes):
        m = torch.zeros(int(np.prod(shapes[n])))
        take = min(left, m.numel())
        m[:take] = 1.0
        left -= take
        out[n] = m.reshape(shapes[n])
    return {n: out[n] for n in shapes}


def random_scores(shapes: dict[str, torch.Size], seed: int) -> dict[str, torch.Tensor]:
    """Seeded uniform scores per entry (own generator: the global RNG is left alone)."""
    gen = torch.Generator().manual_seed(seed)
    return {n: torch.rand(tuple(s), generator=gen) for n, s in shapes.items()}


def build_mask(
    model: nn.Module,
    scores: dict[str, torch.Tensor] | None,
    *,
    localizer: str,
    granularity: str = "parameter",
    budget: float,
    seed: int = 0,
) -> Mask:
    """The mask of `localizer` over `model`'s parameters.

    ``shallowest`` / ``deepest`` ignore `scores`; ``random`` uses seeded random scores when
    `scores` is None; any other localizer ranks the given `scores` (from `score_parameters`) at
    `granularity`.
    """
    _check_granularity(granularity)
    shapes = {n: p.shape for n, p in model.named_parameters()}
    ranked: dict[str, torch.Tensor] | None = None
    if localizer in LAYER_ORDERS:
        masks = layer_order_mask(shapes, budget, reverse=LAYER_ORDERS[localizer])
    else:
        if scores is None:
            if localizer != "random":
                raise ValueError(f"localizer {localizer!r} needs parameter scores")
            scores = random_scores(shapes, seed)
        missing = set(shapes) - set(scores)
        if missing:
            raise ValueError(f"scores are missing for parameters: {', '.join(sorted(missing))}")
        ranked = aggregate({n: scores[n] for n in shapes}, granularity)
        masks = top_fraction(ranked, budget)
    layers = [_summarise(n, masks[n], ranked[n] if ranked is not None else None) for n in shapes]
    return Mask(masks, layers, localizer, granularity, budget, scores=ranked)


def mask_overlap(a: Mask | dict[str, torch.Tensor], b: Mask | dict[str, torch.Tensor]) -> float:
    """Jaccard index of two masks over the same parameters: |a ∧ b| / |a ∨ b| (1.0 if both empty)."""
    ma = a.masks if isinstance(a, Mask) else a
    mb = b.masks if isinstance(b, Mask) else b
    if set(ma) != set(mb):
        raise ValueError("the two masks cover different parameters")
    inter = sum(int(((ma[n] > 0) & (mb[n] > 0)).sum()) for n in ma)
    union = sum(int(((ma[n] > 0) | (mb[n] > 0)).sum()) for n in ma)
    return 1.0 if union == 0 else inter / union


def _summarise(name: str, mask: torch.Tensor, ranked: torch.Tensor | None) -> LayerSummary:
    rows = mask.reshape(mask.shape[0], -1) if mask.ndim > 1 else mask.reshape(-1, 1)  # [C_out, fan_in]
    frac = rows.mean(dim=1).numpy()
    chan_scores = None
    if ranked is not None:
        r = ranked.reshape(rows.shape)
        # channel granularity: all entries of a row share one score, so the mean is that score
        chan_scores = r.mean(dim=1).numpy()
    return LayerSummary(
        name=name, layer=name.rpartition(".")[0], shape=tuple(mask.shape), n_total=mask.numel(),
        n_selected=int(mask.sum()), channel_scores=chan_scores, channel_fraction=frac, channel_selected=frac > 0,
    )


def _split(flat: torch.Tensor, shapes: dict[str, torch.Size]) -> dict[str, torch.Tensor]:
    out, start = {}, 0
    for n, s in shapes.items():
        size = int(np.prod(s))
        out[n] = flat[start : start + size].reshape(s).clone()
        start += size
    return out


def _check_budget(budget: float) -> None:
    if not 0.0 <= budget <= 1.0:
        raise ValueError(f"budget must be a fraction in [0, 1]; got {budget}")


def _check_granularity(granularity: str) -> None:
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {', '.join(GRANULARITIES)}; got {granularity!r}")
