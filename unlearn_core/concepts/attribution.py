"""Integrated Gradients (captum) on concepts and on pixels.

Concept level: IG of each class logit of the concept bottleneck (an nn.Linear on the margins)
with respect to the margins d(x), averaged over the class's images, gives a class x concept
matrix. The baseline defaults to the train-set mean margins: with a zero baseline, concepts that
are *absent* get credit ("a star is not red" ranks red high), and the planted star -> yellow link
ranked first in only 2 of 3 seeds on shapes against 3 of 3 with the mean (measured). For a
linear bottleneck IG is exact (attribution = w_ck · (d_k − baseline_k)); captum computes it the
same way as for any other model and reports the completeness error.

Pixel level: IG of a class logit of the whole model with respect to the image, for a few images
under several models (original / unlearned / retrained), with captum's convergence delta (the
completeness error); 64 steps by default (measured error 1.9% at 16, 0.5% at 64, 0.1% at 256).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from unlearn_core.concepts.bottleneck import ConceptBottleneck
from unlearn_core.device import on_device
from unlearn_core.sampling import sample_at_most

BASELINES = ("mean", "zero")


@dataclass
class DonorSuggestion:
    """The class that shares the target's top concepts, and which concepts they share."""

    target: int
    donor: int
    shared: list[str]
    scores: np.ndarray  # [C] overlap score per class (target: -inf)


@dataclass
class ConceptAttribution:
    """Class x concept IG matrix [C, K] (mean over each class's images) with its completeness error."""

    matrix: np.ndarray
    class_names: list[str]
    concept_names: list[str]
    baseline: str
    counts: np.ndarray  # [C] images averaged per class
    max_delta: float  # largest |sum(attr) - (f(x) - f(baseline))| over the images

    def top_concepts(
        self, class_idx: int, k: int = 3, *, positive_only: bool = True, allowed: np.ndarray | None = None
    ) -> list[tuple[str, float]]:
        """The `k` concepts with the largest attribution for class `class_idx` (name, value).

        `allowed` [K] bool restricts the ranking (e.g. to concepts whose probe is reliable).
        """
        row = self.matrix[class_idx]
        order = [j for j in np.argsort(-row, kind="stable") if allowed is None or allowed[j]][:k]
        return [(self.concept_names[j], float(row[j])) for j in order if not positive_only or row[j] > 0]

    def suggest_donor(self, target: int, k: int = 3, *, allowed: np.ndarray | None = None) -> DonorSuggestion:
        """The class whose attributions overlap most with the target's top-`k` positive concepts.

        Overlap score of class c: sum over the target's top concepts of min(A[t, j], A[c, j])
        (positive parts). If no class shares any of them, the class with the most similar
        attribution row (cosine) is chosen and `shared` is empty. `allowed` as in `top_concepts`.
        """
        if not 0 <= target < len(self.class_names):
            raise ValueError(f"class {target} does not exist; classes are 0..{len(self.class_names) - 1}")
        if len(self.class_names) < 2:
            raise ValueError("a donor class needs at least two classes")
        top = [self.concept_names.index(n) for n, _ in self.top_concepts(target, k, allowed=allowed)]
        pos = np.clip(self.matrix, 0, None)
        scores = np.array([np.minimum(pos[target, top], pos[c, top]).sum() for c in range(len(self.class_names))])
        scores[target] = -np.inf
        if not np.isfinite(scores).any() or scores.max() <= 0:
            rows = self.matrix / (np.linalg.norm(self.matrix, axis=1, keepdims=True) + 1e-12)
            scores = rows @ rows[target]
            scores[target] = -np.inf
            donor = int(np.argmax(scores))
            return DonorSuggestion(target, donor, [], scores)
        donor = int(np.argmax(scores))
        shared = [self.concept_names[j] for j in top if pos[donor, j] > 0]
        return DonorSuggestion(target, donor, shared, scores)


def concept_attributions(
    bottleneck: ConceptBottleneck,
    margins: torch.Tensor,
    labels: torch.Tensor,
    *,
    baseline: str = "mean",
    n_steps: int = 8,
    max_per_class: int = 300,
    seed: int = 0,
) -> ConceptAttribution:
    """IG of each class's logit w.r.t. the concept margins [N, K] of that class's images, averaged.

    `baseline`: ``mean`` (the bottleneck's train-set mean margins, default) or ``zero``. The
    bottleneck is linear, so Gauss-Legendre IG is exact at any `n_steps`; `max_delta` shows it.
    Each class's mean is taken over a seeded sample of at most `max_per_class` of its images
    (captum differentiates every path point separately, which dominates the cost).
    """
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {', '.join(BASELINES)}; got {baseline!r}")
    if margins.ndim != 2 or margins.shape[1] != len(bottleneck.concept_names):
        raise ValueError(f"margins must be [N, {len(bottleneck.concept_names)}]; got {tuple(margins.shape)}")
    linear = bottleneck.linear()
    base = torch.as_tensor(bottleneck.mean, dtype=torch.float32) if baseline == "mean" else torch.zeros(margins.shape[1])
    margins = margins.float()
    labels = torch.as_tensor(labels, dtype=torch.long)
    from captum.attr import IntegratedGradients  # captum (and the matplotlib it loads) only when attributing

    ig = IntegratedGradients(linear)
    num_classes = len(bottleneck.class_names)
    matrix = np.zeros((num_classes, margins.shape[1]))
    counts = np.zeros(num_classes, dtype=np.int64)
    max_delta = 0.0
    rng = np.random.default_rng(seed)
    for c in range(num_classes):  # one integer target per call: captum is slow with per-sample targets
        idx = sample_at_most(np.flatnonzero(labels.numpy() == c), max_per_class, rng)
        d = margins[torch.as_tensor(idx, dtype=torch.long)]  # [n_c, K]
        counts[c] = len(d)
        if len(d) == 0:
            continue
        attr, delta = ig.attribute(
            d, baselines=base[None, :].expand_as(d), target=c, n_steps=n_steps, return_convergence_delta=True
        )
        matrix[c] = attr.mean(0).detach().numpy()
        max_delta = max(max_delta, float(delta.abs().max()))
    return ConceptAttribution(matrix, list(bottleneck.class_names), list(bottleneck.concept_names), baseline, counts, max_delta)


@dataclass
class PixelAttribution:
    """IG maps of one model for a batch of images."""

    maps: np.ndarray  # [N, C, H, W] attributions
    targets: np.ndarray  # [N] class explained
    delta: np.ndarray  # [N] completeness error: sum(maps) - (f(x)_t - f(baseline)_t)
    relative_delta: np.ndarray  # [N] |delta| / |f(x)_t - f(baseline)_t|

    @property
    def heatmaps(self) -> np.ndarray:
        """[N, H, W]: attributions summed over channels (signed)."""
        return self.maps.sum(1)


def pixel_attributions(
    models: dict[str, nn.Module],
    x: torch.Tensor,
    targets: torch.Tensor | int,
    *,
    device: torch.device,
    baseline: float = 0.0,
    n_steps: int = 64,
    internal_batch_size: int = 256,
) -> dict[str, PixelAttribution]:
    """IG of logit `targets` w.r.t. the pixels of images `x` [N, C, H, W], for each named model.

    The baseline is a constant image (`baseline`, black by default). Models run in eval mode on
    `device`; the results are numpy arrays on the CPU.
    """
    if x.ndim != 4:
        raise ValueError(f"images must be [N, C, H, W]; got {tuple(x.shape)}")
    t = torch.as_tensor(targets, dtype=torch.long)
    t = t.expand(len(x)) if t.ndim == 0 else t
    if len(t) != len(x):
        raise ValueError(f"{len(x)} images but {len(t)} targets")
    inputs = x.float().to(device)
    base = torch.full_like(inputs, float(baseline))
    from captum.attr import IntegratedGradients  # captum (and the matplotlib it loads) only when attributing

    out: dict[str, PixelAttribution] = {}
    for name, caller_model in models.items():
        model = on_device(caller_model, device)
        was_training = model.training
        model.eval()
        try:
            attr, delta = IntegratedGradients(model).attribute(
                inputs, baselines=base, target=t.to(device), n_steps=n_steps,
                internal_batch_size=max(internal_batch_size, len(x)), return_convergence_delta=True,
            )
            with torch.no_grad():
                rows = torch.arange(len(x), device=device)
                gap = (model(inputs)[rows, t.to(device)] - model(base)[rows, t.to(device)]).abs()
        finally:
            model.train(was_training)
        delta = delta.detach().cpu()
        out[name] = PixelAttribution(
            attr.detach().cpu().numpy(), t.numpy().copy(), delta.numpy(),
            (delta.abs() / gap.cpu().clamp_min(1e-12)).numpy(),
        )
    return out
