"""Layer-wise representation similarity: linear CKA (Kornblith et al. 2019, "Similarity of Neural
Network Representations Revisited", ICML) between two models on the same images, in two
estimators:

- **biased** (Kornblith et al. 2019): CKA from the plug-in HSIC estimate on centred Gram matrices
  K, L: <K, L>_F / (||K||_F ||L||_F). 1 for identical representations; invariant to orthogonal
  transforms and isotropic scaling. Its bias grows with the width-to-sample ratio: with N = 300
  images and layers of thousands of dimensions (every conv block's feature map), two *independent*
  random representations already score about 0.9, so an early-layer value near 1 says little;
- **debiased**: the same ratio over the unbiased HSIC estimator of Song et al. 2012 ("Feature
  Selection via Dependence Maximization", JMLR 13), computed as Kornblith et al.'s code does (the
  "unbiased centring" of each Gram matrix, then the same cosine), as Nguyen, Raghu & Kornblith 2021
  ("Do Wide and Deep Networks Learn the Same Things?", ICLR) use for wide layers. Independent
  representations score about 0 whatever the width; identical ones score 1.

Both are reported (`inspection.LayerSimilarity`): the biased one keeps the fields and values the
studio has always shown (and the figures most papers print); the debiased one is the one to read
when the layer is much wider than the sample, i.e. for every conv block. Neither replaces the
references: the inspection draws each layer's retrain-vs-retrain CKA (ceiling) and
untrained-vs-retrain CKA (floor) beside the unlearned model's.

A *layer* is one top-level child of ``model.features`` that holds parameters (for the small CNN:
each conv block; for the ResNet: the stem's conv and BatchNorm, then each stage), named as in
``named_modules()`` (``features.0``, ...), plus ``penultimate``: the output of ``model.features``
itself, the vector the head reads. Parameter-free children (pooling, flatten, activations) are not
layers of their own: their effect shows in the next layer. Each layer's output is flattened per
image, and *copied* the moment the module returns it: a following in-place operation (the ResNet
stem's ``ReLU(inplace=True)`` after ``features.1``) would otherwise rewrite the captured tensor on
the CPU, where no device transfer copies it, and not on a GPU, where ``.cpu()`` does - the same
layer read after the ReLU on one device and before it on the other.

Each model is run once on the images (forward hooks capture every layer); only the centred Gram
matrix of each layer is kept ([N, N], whatever the layer's width), so comparing one model with
several others costs no further forward pass and little memory. Both estimators are computed from
the same centred Gram (the unbiased HSIC is invariant to centring the features first).

Written here rather than taken from a library: linear CKA in Gram form is a few lines, and
keeping only the Gram matrices lets one forward pass per model serve every pair of models.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

PENULTIMATE = "penultimate"
ESTIMATORS = ("biased", "debiased")


def feature_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The layers CKA compares: each top-level child of `model.features` with parameters (named
    as in `named_modules()`), then the whole `features` module as ``penultimate``."""
    children = [(f"features.{name}", child) for name, child in model.features.named_children()
                if any(True for _ in child.parameters())]
    return [*children, (PENULTIMATE, model.features)]


def centred_gram(x: torch.Tensor) -> torch.Tensor:
    """Centred linear Gram matrix H X X^T H of activations [N, ...] (flattened per row), float64."""
    flat = x.reshape(len(x), -1).double()
    flat = flat - flat.mean(0, keepdim=True)  # centring the features centres the Gram on both sides
    return flat @ flat.T


def unbiased_centred(gram: torch.Tensor) -> torch.Tensor:
    """The "unbiased centring" of a linear Gram matrix [N, N] (N > 3): the matrix K' with
    <K', L'>_F = N (N - 3) HSIC_1(K, L), Song et al. 2012's unbiased HSIC estimator (eq. 5),
    written as in Kornblith et al. 2019's reference code. The diagonal is zeroed (a sample's
    similarity to itself carries the bias). A new tensor; `gram` is not modified."""
    n = gram.shape[0]
    if n < 4:
        raise ValueError(f"the debiased CKA needs at least 4 samples; got {n}")
    g = gram.double().clone()
    g.fill_diagonal_(0.0)
    means = g.sum(0) / (n - 2)
    means = means - means.sum() / (2 * (n - 1))
    g = g - means[:, None] - means[None, :]
    g.fill_diagonal_(0.0)
    return g


def linear_cka_gram(k: torch.Tensor, l: torch.Tensor, *, debiased: bool = False) -> float:  # noqa: E741 (the paper's names)
    """Linear CKA of two centred Gram matrices [N, N]: the biased estimator (Kornblith et al.
    2019) or, with `debiased`, the one over Song et al. 2012's unbiased HSIC (see the module
    docstring). NaN when either representation is constant. The debiased value can be slightly
    negative for unrelated representations (an unbiased estimate of 0)."""
    if k.shape != l.shape:
        raise ValueError(f"Gram matrices of different sizes: {tuple(k.shape)} vs {tuple(l.shape)}")
    if debiased:
        k, l = unbiased_centred(k), unbiased_centred(l)  # noqa: E741
    denom = torch.linalg.norm(k) * torch.linalg.norm(l)
    if float(denom) == 0.0:
        return float("nan")
    return float((k * l).sum() / denom)


def linear_cka(x: torch.Tensor, y: torch.Tensor, *, debiased: bool = False) -> float:
    """Linear CKA of two representations of the same N inputs ([N, ...] each; widths may differ),
    biased (default) or debiased (see `linear_cka_gram`)."""
    if len(x) != len(y):
        raise ValueError(f"representations of {len(x)} and {len(y)} inputs")
    return linear_cka_gram(centred_gram(x), centred_gram(y), debiased=debiased)


@dataclass
class LayerGrams:
    """One model's centred Gram matrix per layer on a fixed set of images (in layer order)."""

    names: list[str]
    grams: list[torch.Tensor]


def _captured_copy(out: torch.Tensor) -> torch.Tensor:
    """A float32 CPU *copy* of a layer's output, taken in the hook before anything downstream
    (an in-place activation) can change it. ``out.float().cpu()`` is no copy for a float32 CPU
    tensor: it aliases the output, which ``ReLU(inplace=True)`` then rewrites."""
    return out.detach().to(device="cpu", dtype=torch.float32, copy=True)


@torch.no_grad()
def layer_grams(model: nn.Module, x: torch.Tensor, *, device: torch.device, batch_size: int = 256) -> LayerGrams:
    """Run `model` once over images `x` [N, C, H, W] (eval mode, batched) and keep each layer's
    centred Gram matrix, from a copy of each layer's output taken as the layer returns it (so an
    in-place operation after it changes nothing, on any device). The model is left as it was
    (mode and device)."""
    layers = feature_layers(model)
    captured: dict[str, list[torch.Tensor]] = {name: [] for name, _ in layers}
    handles = [module.register_forward_hook(lambda _m, _i, out, name=name: captured[name].append(_captured_copy(out)))
               for name, module in layers]
    was_training = model.training
    original_device = next(model.parameters()).device
    try:
        model.eval().to(device)
        for i in range(0, len(x), batch_size):
            model.features(x[i : i + batch_size].to(device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training).to(original_device)
    grams = []
    for name, _ in layers:
        grams.append(centred_gram(torch.cat(captured[name])))
        captured[name].clear()  # free each layer's activations as soon as its Gram exists
    return LayerGrams([name for name, _ in layers], grams)


def cka_per_layer(a: LayerGrams, b: LayerGrams, *, debiased: bool = False) -> list[float]:
    """Linear CKA of two models layer by layer (same architecture, same images), biased or debiased."""
    if a.names != b.names:
        raise ValueError(f"the models have different layers: {a.names} vs {b.names}")
    return [linear_cka_gram(ga, gb, debiased=debiased) for ga, gb in zip(a.grams, b.grams, strict=True)]
