"""Layer-wise representation similarity: linear CKA (Kornblith et al. 2019, "Similarity of Neural
Network Representations Revisited", ICML) between two models on the same images.

A *layer* is one top-level child of ``model.features`` that holds parameters (for the small CNN:
each conv block; for the ResNet: the stem and each stage), named as in ``named_modules()``
(``features.0``, ...), plus ``penultimate``: the output of ``model.features`` itself, the vector
the head reads. Parameter-free children (pooling, flatten) are not layers of their own: their
effect shows in the next layer. Each layer's output is flattened per image.

Each model is run once on the images (forward hooks capture every layer); only the centred
Gram matrix of each layer is kept ([N, N], whatever the layer's width), so comparing one model
with several others costs no further forward pass and little memory. Linear CKA of Gram
matrices K, L (centred) is <K, L>_F / (||K||_F ||L||_F): 1 for identical representations, and
invariant to orthogonal transforms and isotropic scaling of either one.

Written here rather than taken from a library: linear CKA in Gram form is a few lines, and
keeping only the Gram matrices lets one forward pass per model serve every pair of models.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

PENULTIMATE = "penultimate"


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


def linear_cka_gram(k: torch.Tensor, l: torch.Tensor) -> float:  # noqa: E741 (the paper's names)
    """Linear CKA of two centred Gram matrices [N, N]; NaN when either representation is constant."""
    if k.shape != l.shape:
        raise ValueError(f"Gram matrices of different sizes: {tuple(k.shape)} vs {tuple(l.shape)}")
    denom = torch.linalg.norm(k) * torch.linalg.norm(l)
    if float(denom) == 0.0:
        return float("nan")
    return float((k * l).sum() / denom)


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA of two representations of the same N inputs ([N, ...] each; widths may differ)."""
    if len(x) != len(y):
        raise ValueError(f"representations of {len(x)} and {len(y)} inputs")
    return linear_cka_gram(centred_gram(x), centred_gram(y))


@dataclass
class LayerGrams:
    """One model's centred Gram matrix per layer on a fixed set of images (in layer order)."""

    names: list[str]
    grams: list[torch.Tensor]


@torch.no_grad()
def layer_grams(model: nn.Module, x: torch.Tensor, *, device: torch.device, batch_size: int = 256) -> LayerGrams:
    """Run `model` once over images `x` [N, C, H, W] (eval mode, batched) and keep each layer's
    centred Gram matrix. The model is left as it was (mode and device)."""
    layers = feature_layers(model)
    captured: dict[str, list[torch.Tensor]] = {name: [] for name, _ in layers}
    handles = [module.register_forward_hook(lambda _m, _i, out, name=name: captured[name].append(out.float().cpu()))
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


def cka_per_layer(a: LayerGrams, b: LayerGrams) -> list[float]:
    """Linear CKA of two models layer by layer (same architecture, same images)."""
    if a.names != b.names:
        raise ValueError(f"the models have different layers: {a.names} vs {b.names}")
    return [linear_cka_gram(ga, gb) for ga, gb in zip(a.grams, b.grams, strict=True)]
