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

Precision: the activations are float32 (as the model computes them); they are centred and
multiplied in float32 (one BLAS sgemm, about half the time of the float64 product, and no float64
copy of the activations - on shapes a conv block is 32,768 values wide per image) and the [N, N]
Gram is then kept in float64, in which every CKA sum and norm is taken. Against centring and
multiplying in float64, the CKA values on a shapes run differ by less than 1e-8 (both estimators,
every layer and pair, 2 x 300 images, measured 2026-12-06); `tests/unit/test_cka_precision.py` bounds
the difference at 1e-5 on wide random activations with a large offset, far below the two decimals
shown. Float64 input (a caller's own representations) stays float64 throughout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
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
    """Centred linear Gram matrix H X X^T H of activations [N, ...] (flattened per row), returned as
    float64 [N, N]. Centred and multiplied in float32 (float64 input: in float64), see the module
    docstring for the precision; `x` is not modified."""
    flat = x.reshape(len(x), -1)
    return _gram_of_centred(flat.to(torch.float64 if flat.dtype == torch.float64 else torch.float32, copy=True))


def _gram_of_centred(flat: torch.Tensor) -> torch.Tensor:
    """`centred_gram` of a [N, D] float tensor the caller owns: centred *in place* (no second copy
    of a wide layer), multiplied in its own dtype, the [N, N] result as float64."""
    flat.sub_(flat.mean(0, keepdim=True))  # centring the features centres the Gram on both sides
    return (flat @ flat.T).double()


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


@torch.no_grad()
def _activations(model: nn.Module, x: torch.Tensor, *, device: torch.device,
                 batch_size: int) -> list[tuple[str, torch.Tensor]]:
    """Every layer's output on images `x` (one batched forward pass in eval mode), as float32 CPU
    tensors [N, ...] in layer order, each a *copy* written as the layer returns it: ``copy_``
    always writes into the layer's buffer, while ``out.float().cpu()`` would alias a float32 CPU
    output, which a following ``ReLU(inplace=True)`` then rewrites. The model is left as it was
    (mode and device)."""
    layers = feature_layers(model)
    captured: dict[str, torch.Tensor] = {}  # layer -> [N, ...] float32, filled batch by batch
    start = 0

    def keep(name: str, out: torch.Tensor) -> None:
        out = out.detach()
        if name not in captured:
            captured[name] = torch.empty((len(x), *out.shape[1:]), dtype=torch.float32)
        captured[name][start : start + len(out)].copy_(out)

    handles = [module.register_forward_hook(lambda _m, _i, out, name=name: keep(name, out)) for name, module in layers]
    was_training = model.training
    original_device = next(model.parameters()).device
    try:
        model.eval().to(device)
        for start in range(0, len(x), batch_size):  # `keep` writes the batch's rows from `start` on
            model.features(x[start : start + batch_size].to(device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training).to(original_device)
    return [(name, captured.pop(name)) for name, _ in layers]


@torch.no_grad()
def layer_grams(model: nn.Module, x: torch.Tensor, *, device: torch.device, batch_size: int = 256) -> LayerGrams:
    """Run `model` once over images `x` [N, C, H, W] (eval mode, batched) and keep each layer's
    centred Gram matrix (float64 [N, N], computed in float32: see the module docstring), from a
    float32 CPU copy of each layer's output taken as the layer returns it (so an in-place operation
    after it changes nothing, on any device). The model is left as it was (mode and device)."""
    activations = _activations(model, x, device=device, batch_size=batch_size)
    names, grams = [], []
    while activations:  # free each layer's activations as soon as its Gram exists
        name, acts = activations.pop(0)
        names.append(name)
        grams.append(_gram_of_centred(acts.reshape(len(acts), -1)))
        del acts
    return LayerGrams(names, grams)


# Images per forward batch when comparing layers (`inspection.layer_similarity`): on two CPU cores
# the shapes model's `layer_grams` over 300 images takes about 0.18 s in batches of 64 and 0.24 s
# in batches of 256 (the layers' outputs of a small batch stay in the caches); the CKA estimate
# times one such batch.
FORWARD_BATCH = 64
ESTIMATE_PROBE_IMAGES = FORWARD_BATCH  # images the CKA estimate times a forward pass on


@torch.no_grad()
def estimate_layer_grams_seconds(model: nn.Module, x: torch.Tensor, *, n_models: int, sizes: Sequence[int],
                                 device: torch.device, probe: int = ESTIMATE_PROBE_IMAGES,
                                 clock: Callable[[], float] = time.perf_counter) -> float:
    """A rough time, measured here and now, for `n_models` models of `model`'s architecture each
    running `layer_grams` once on every one of `sizes` image sets (``sizes[i]`` images; as
    `inspection.layer_similarity` runs every model once per side), CKA sums not counted (a few
    milliseconds). Two timings on `x` (images like the ones to compare):

    - the forward pass with the capture, on the first `probe` images of `x` in one batch (the
      `FORWARD_BATCH` images `layer_similarity` runs at a time), scaled linearly to each size
      (after a warm-up pass on one image);
    - the centred Gram of the widest layer at the largest size (its real activations, repeated
      to that many rows), scaled by the sum of the layers' widths over the widest one and by
      (size / largest size)^2: the Gram costs N^2 x width.

    Costs about a `probe`-image forward pass and one Gram: a few percent of what it estimates.
    `clock` is the timer (a stub in tests)."""
    if n_models < 0 or any(n < 0 for n in sizes):
        raise ValueError(f"the estimate needs non-negative counts; got {n_models} models and sizes {list(sizes)}")
    if n_models == 0 or not any(sizes):
        return 0.0
    sample = x[: max(1, min(probe, len(x)))]
    _activations(model, sample[:1], device=device, batch_size=1)  # warm-up: first-call overheads
    _sync(device)
    begin = clock()
    activations = _activations(model, sample, device=device, batch_size=len(sample))  # one batch
    _sync(device)
    per_image = (clock() - begin) / len(sample)
    widths = [acts[0].numel() for _, acts in activations]
    widest = max(range(len(widths)), key=widths.__getitem__)
    largest = max(sizes)
    rows = activations[widest][1].reshape(len(sample), -1)
    tiled = rows.repeat((largest + len(rows) - 1) // len(rows), 1)[:largest].contiguous()
    del activations
    begin = clock()
    _gram_of_centred(tiled)
    gram_largest = (clock() - begin) * sum(widths) / widths[widest]
    return n_models * sum(per_image * n + gram_largest * (n / largest) ** 2 for n in sizes)


def _sync(device: torch.device) -> None:
    """Wait for the device's queued work (timings on a GPU would otherwise stop early)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cka_per_layer(a: LayerGrams, b: LayerGrams, *, debiased: bool = False) -> list[float]:
    """Linear CKA of two models layer by layer (same architecture, same images), biased or debiased."""
    if a.names != b.names:
        raise ValueError(f"the models have different layers: {a.names} vs {b.names}")
    return [linear_cka_gram(ga, gb, debiased=debiased) for ga, gb in zip(a.grams, b.grams, strict=True)]
