"""The layer CKA's Gram matrices are centred and multiplied in float32 (one sgemm) and kept in
float64 (`inspect.cka`): the CKA values must agree with an all-float64 computation far below the
two decimals the studio shows. The reference Gram is written out here in float64 (centring and
product); the estimators' formulas on top of it are the module's `linear_cka_gram`, whose unbiased
centring has its own known-answer tests (test_inspect_mutants), so only the precision is tested."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from unlearn_core.inspect.cka import (
    centred_gram,
    cka_per_layer,
    feature_layers,
    layer_grams,
    linear_cka,
    linear_cka_gram,
)
from unlearn_core.models import build_model

CPU = torch.device("cpu")
TOLERANCE = 1e-5  # the float32 path against float64; the display shows 2 decimals


def _gram64(x: torch.Tensor) -> torch.Tensor:
    flat = x.reshape(len(x), -1).double()
    flat = flat - flat.mean(0, keepdim=True)
    return flat @ flat.T


def _cka64(x: torch.Tensor, y: torch.Tensor, *, debiased: bool) -> float:
    return linear_cka_gram(_gram64(x), _gram64(y), debiased=debiased)


def _wide_activations() -> dict[str, torch.Tensor]:
    """Float32 [300, 8192] post-ReLU-like activations with a large common offset (what float32
    centring must remove without losing the rest): a base, a near copy of it (CKA near 1, where
    an error would show most), a partly related and an independent one."""
    gen = torch.Generator().manual_seed(0)
    n, d = 300, 8192
    base = torch.relu(torch.randn(n, d, generator=gen)) + 20.0
    return {
        "base": base,
        "near": base + 0.05 * torch.randn(n, d, generator=gen),
        "related": torch.relu(base - 20.0 + torch.randn(n, d, generator=gen)) * 3.0 + 7.0,
        "independent": torch.relu(torch.randn(n, d, generator=gen)) + 20.0,
    }


@pytest.mark.parametrize("debiased", [False, True])
def test_float32_cka_agrees_with_float64_on_wide_activations(debiased: bool) -> None:
    acts = _wide_activations()
    assert all(a.dtype == torch.float32 for a in acts.values())
    base = acts["base"]
    for other in ("near", "related", "independent"):
        got = linear_cka(base, acts[other], debiased=debiased)
        expected = _cka64(base, acts[other], debiased=debiased)
        assert got == pytest.approx(expected, abs=TOLERANCE), (other, got, expected)
    # the cases differ well beyond the tolerance: the comparison can tell a wrong Gram from a right one
    values = [_cka64(base, acts[o], debiased=debiased) for o in ("near", "related", "independent")]
    assert values[0] > 0.99 and min(abs(a - b) for a in values for b in values if a != b) > 0.01


def test_float32_gram_is_the_centred_float64_gram_and_float64_input_stays_float64() -> None:
    x = _wide_activations()["related"]
    got, expected = centred_gram(x), _gram64(x)
    assert got.dtype == torch.float64 and got.shape == (300, 300)
    assert float((got - expected).abs().max()) < TOLERANCE * float(expected.abs().max())
    assert torch.equal(centred_gram(x.double()), _gram64(x))  # float64 in: the float64 computation exactly
    before = x.clone()
    centred_gram(x)
    assert torch.equal(x, before)  # the caller's tensor is not centred in place


def test_layer_grams_of_a_model_agree_with_float64_per_layer() -> None:
    """Two small CNNs on 64 images of 32 x 32 (conv layers 8,192 values wide): the CKA per layer
    from `layer_grams` (float32 Gram, batches of 24 into one buffer, centred in place) against
    float64 on the same activations read by a hook of the test's own."""
    torch.manual_seed(0)
    a = build_model("small_cnn", num_classes=4, in_channels=3, image_size=32, width=8).eval()
    b = build_model("small_cnn", num_classes=4, in_channels=3, image_size=32, width=8).eval()
    x = torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    names = [name for name, _ in feature_layers(a)]

    def activations(model: nn.Module) -> list[torch.Tensor]:
        seen: dict[str, torch.Tensor] = {}
        handles = [m.register_forward_hook(lambda _m, _i, out, name=name: seen.__setitem__(name, out.detach().clone()))
                   for name, m in feature_layers(model)]
        with torch.no_grad():
            model.features(x)
        for h in handles:
            h.remove()
        return [seen[name] for name in names]

    ga, gb = layer_grams(a, x, device=CPU, batch_size=24), layer_grams(b, x, device=CPU, batch_size=24)
    for debiased in (False, True):
        got = cka_per_layer(ga, gb, debiased=debiased)
        expected = [_cka64(u, v, debiased=debiased) for u, v in zip(activations(a), activations(b), strict=True)]
        assert got == pytest.approx(expected, abs=TOLERANCE)
