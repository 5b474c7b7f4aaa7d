"""2-D projections: PCA / UMAP fitted once, and the shared projection of several models' outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import unlearn_core.embed as embed
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


# -- UMAP of many points: a stratified sample fitted, the rest transformed (issue 25 item 2) --------
def test_umap_fit_rows_keep_each_class_share_known_answer() -> None:
    labels = np.array([0] * 3001 + [1] * 1999 + [2] * 1000)
    rows = embed.umap_fit_rows(len(labels), labels, seed=0)
    assert embed.UMAP_FIT_POINTS == 3000 and len(rows) == 3000
    assert np.bincount(labels[rows]).tolist() == [1501, 999, 500]  # 1500.5 / 999.5 / 500: the tie goes to class 0
    assert np.all(np.diff(rows) > 0)  # sorted, no repeats
    assert np.array_equal(rows, embed.umap_fit_rows(len(labels), labels, seed=0))
    assert not np.array_equal(rows, embed.umap_fit_rows(len(labels), labels, seed=1))
    assert len(embed.umap_fit_rows(5000, None, seed=0)) == 3000
    assert np.array_equal(embed.umap_fit_rows(3000, labels[:3000], seed=0), np.arange(3000))  # small: every point


class _FakeUmap:
    """Stands in for umap.UMAP: fit_transform gives each fitted point (its position in the sample, 0);
    transform gives each new point (its nearest fitted point's position, the distance to it)."""

    made: list[_FakeUmap] = []

    def __init__(self, **kwargs) -> None:
        self.kwargs, self.fitted, self.chunks = kwargs, None, []
        _FakeUmap.made.append(self)

    def fit_transform(self, distances: np.ndarray) -> np.ndarray:
        self.fitted = distances
        return np.stack([np.arange(len(distances)), np.zeros(len(distances))], 1)

    def transform(self, distances: np.ndarray) -> np.ndarray:
        self.chunks.append(distances.shape)
        return np.stack([distances.argmin(1), distances.min(1)], 1)


def test_umap_fits_the_sample_on_exact_distances_and_transforms_the_rest_in_chunks(monkeypatch) -> None:
    pytest.importorskip("umap")
    monkeypatch.setattr("umap.UMAP", _FakeUmap)
    monkeypatch.setattr(embed, "keep_umap_compiled", lambda: None)
    monkeypatch.setattr(embed, "UMAP_FIT_POINTS", 4)
    monkeypatch.setattr(embed, "TRANSFORM_CHUNK", 4)
    x = np.array([[0.0, 0.0], [1, 0], [3, 0], [6, 0], [10, 0], [15, 0], [21, 0], [28, 0], [36, 0], [45, 0]])
    labels = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    _FakeUmap.made.clear()
    _, coords = embed.fit_projection(x, "umap", seed=0, labels=labels)
    rows = embed.umap_fit_rows(10, labels, 0)
    (made,) = _FakeUmap.made
    assert made.kwargs["metric"] == "precomputed" and made.kwargs["n_epochs"] == embed.UMAP_EPOCHS == 200
    assert len(rows) == 4 and np.bincount(labels[rows]).tolist() == [2, 2]
    assert np.allclose(made.fitted, np.abs(x[rows, 0][:, None] - x[rows, 0][None, :]), atol=1e-5)
    assert np.array_equal(coords[rows], [[0, 0], [1, 0], [2, 0], [3, 0]])
    assert made.chunks == [(4, 4), (2, 4)]  # six other points, at most four a call, against the four fitted
    for i in np.setdiff1d(np.arange(10), rows):
        gaps = np.abs(x[rows, 0] - x[i, 0])
        assert coords[i].tolist() == pytest.approx([gaps.argmin(), gaps.min()], abs=1e-5)


def test_umap_compiled_code_is_kept_beside_the_package_never_in_the_workspace(tmp_path) -> None:
    pytest.importorskip("umap")
    probe = ("import json, os, umap, umap.layouts, umap.utils\n"
             "from unlearn_core.embed import keep_umap_compiled\n"
             "keep_umap_compiled()\n"
             "fns = (umap.layouts._nb_optimize_layout_euclidean_single_epoch, umap.utils.fast_knn_indices)\n"
             "print(json.dumps([[type(f._cache).__name__, f._cache.cache_path] for f in fns]))\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    kept = json.loads(done.stdout.splitlines()[-1])
    assert [kind for kind, _ in kept] == ["FunctionCache", "FunctionCache"]
    import umap

    beside = os.path.dirname(umap.__file__)
    for _, path in kept:
        assert not path.startswith(str(tmp_path)) and (path.startswith(beside) or "numba" in path)


@pytest.mark.slow
def test_umap_of_a_sample_is_umaps_own_graph_and_places_the_rest_in_their_cluster(monkeypatch) -> None:
    umap = pytest.importorskip("umap")
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(c, 1.0, size=(40, 8)) for c in (0, 8, 16)]).astype(np.float32)
    labels = np.repeat([0, 1, 2], 40)
    monkeypatch.setattr(embed, "UMAP_FIT_POINTS", 60)
    projection, coords = embed.fit_projection(x, "umap", seed=0, labels=labels)
    rows = embed.umap_fit_rows(120, labels, 0)
    own = umap.UMAP(n_components=2, random_state=0, n_neighbors=15, n_jobs=1, n_epochs=200).fit(x[rows])
    assert abs(projection.model.graph_ - own.graph_).max() < 1e-4  # the same neighbour graph as umap's own euclidean
    rest = np.setdiff1d(np.arange(120), rows)
    nearest = np.linalg.norm(coords[rest][:, None] - coords[rows][None], axis=2).argmin(1)
    assert np.array_equal(labels[rows][nearest], labels[rest])  # each placed point lands in its own cluster


_COUNT_COMPILES = """
import json
import numpy as np
import umap  # its import compiles a few functions eagerly (explicit signatures): not counted
from numba.core import event
from unlearn_core.embed import fit_projection
compiled = []
class Listener(event.Listener):
    def on_start(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__module__)
    def on_end(self, ev):
        pass
event.register("numba:compile", Listener())
x = np.random.default_rng(1).normal(size=(3100, 16)).astype(np.float32)
fit_projection(x, "umap", 0, np.arange(3100) % 5)  # a sample of 3,000 fitted, 100 transformed
print(json.dumps(sorted({m for m in compiled if m.startswith("umap")})))
"""


@pytest.mark.slow
def test_compile_umap_leaves_nothing_for_the_first_umap_to_compile(tmp_path) -> None:
    pytest.importorskip("umap")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}  # an empty cache: a fresh install
    run = [sys.executable, "-c"]
    cold = subprocess.run([*run, _COUNT_COMPILES], env=env, capture_output=True, text=True, timeout=600)
    assert cold.returncode == 0, cold.stderr
    assert json.loads(cold.stdout.splitlines()[-1]), "an empty cache compiles umap's code"
    (tmp_path / "numba").rename(tmp_path / "used")
    done = subprocess.run([*run, "from unlearn_core.embed import compile_umap; compile_umap()"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    after = subprocess.run([*run, _COUNT_COMPILES], env=env, capture_output=True, text=True, timeout=600)
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout.splitlines()[-1]) == []
