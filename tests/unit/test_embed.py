"""2-D projections: PCA / UMAP fitted once, and the shared projection of several models' outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unlearn_core.embed import fit_projection, log_probs, shared_projection


def _logits(n: int = 80, k: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, k, generator=torch.Generator().manual_seed(seed)) * 3


def test_pca_projection_shapes() -> None:
    feats = torch.randn(50, 16, generator=torch.Generator().manual_seed(0))
    projection, coords = fit_projection(feats, "pca")
    assert coords.shape == (50, 2) and coords.dtype == np.float32
    new = projection.transform(np.random.default_rng(0).normal(size=(7, 16)))
    assert new.shape == (7, 2) and new.dtype == np.float32
    assert np.allclose(projection.transform(feats), coords, atol=1e-4)  # same map for the same points
    # the first axis carries at least as much variance as the second
    assert coords[:, 0].var() >= coords[:, 1].var()


def test_projection_refusals() -> None:
    with pytest.raises(ValueError, match="projection must be one of pca, umap; got 'tsne'"):
        fit_projection(np.zeros((10, 3)), "tsne")
    with pytest.raises(ValueError, match="at least 3 points"):
        fit_projection(np.zeros((2, 3)))


def test_log_probs_are_finite_and_normalised() -> None:
    logits = torch.tensor([[0.0, 100.0, -100.0], [1.0, 1.0, 1.0]])
    values = log_probs(logits)
    assert values.shape == (2, 3) and np.isfinite(values).all() and values.min() >= -20
    assert np.allclose(np.exp(values[1]).sum(), 1.0, atol=1e-6)


def test_shared_projection_pca() -> None:
    original, other = _logits(seed=0), _logits(seed=1)
    out = shared_projection({"original": original, "copy": original.clone(), "other": other}, "original")
    _, ref_coords = fit_projection(log_probs(original), "pca")
    assert set(out) == {"original", "copy", "other"}
    assert np.array_equal(out["original"], ref_coords)  # the reference keeps its own coords
    assert np.array_equal(out["copy"], out["original"])  # an identical model lands exactly on it
    assert out["copy"] is not out["original"]
    assert out["other"].shape == (80, 2) and not np.allclose(out["other"], out["original"])


def test_shared_projection_nearly_identical_model_is_close() -> None:
    original = _logits()
    nudged = original + 1e-3
    nudged[0, 0] += 0.5
    out = shared_projection({"original": original, "nudged": nudged}, "original")
    assert np.abs(out["nudged"][1:] - out["original"][1:]).max() < 1e-3
    assert np.abs(out["nudged"][0] - out["original"][0]).max() > 1e-3


@pytest.mark.slow
def test_umap_small() -> None:
    pytest.importorskip("umap")
    original, other = _logits(60, seed=0), _logits(60, seed=1)
    out = shared_projection({"original": original, "copy": original.clone(), "other": other}, "original", "umap")
    assert out["original"].shape == out["other"].shape == (60, 2)
    assert np.array_equal(out["copy"], out["original"])
    assert np.isfinite(out["other"]).all()
