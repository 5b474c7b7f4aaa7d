"""2-D projections of model representations: PCA at once, UMAP on request; fitted once, reused.

Two uses:
- the train set in the original model's penultimate feature space (Forget set page: select
  samples by box or lasso);
- original, unlearned and retrained models on one shared projection (Compare page). Their
  penultimate spaces are unrelated (a retrained network's feature axes mean nothing to the
  original's), so the shared projection is fitted on the original model's log-probabilities
  and the other models' log-probabilities go through the same fitted map.

A UMAP of many points is fitted on a class-stratified sample of them and places the rest with
`transform` (`fit_projection`); its compiled code is kept on disk for the next process
(`keep_umap_compiled`).
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from unlearn_core.sampling import sample_at_most

METHODS = ("pca", "umap")
UMAP_FIT_POINTS = 3000  # a UMAP is fitted on at most this many points (class-stratified); `transform` places the rest
UMAP_EPOCHS = 200  # umap-learn's own default above 10,000 points (500 below)
TRANSFORM_CHUNK = 2048  # points placed per `transform` call: its distance matrix is chunk x fitted points
_UMAP_MODULES = ("umap_", "utils", "layouts", "distances", "spectral", "sparse")
_jit_lock = threading.Lock()
_jit_cached: list[bool] = []  # [True] once `keep_umap_compiled` ran in this process


@dataclass
class Projection:
    """A fitted 2-D map; `transform` places new points in the same coordinates.

    A UMAP is fitted on euclidean distances computed here (`reference`: the points it was fitted
    on), not on the points: umap-learn computes exact distances (up to 4,095 points) one pair at a
    time in Python, seconds for a few thousand points, where one matrix product takes milliseconds.
    """

    method: str
    model: Any
    reference: np.ndarray | None = None

    def transform(self, values: np.ndarray | torch.Tensor) -> np.ndarray:
        x = _as_array(values).astype(np.float32)
        if self.reference is None:
            return np.asarray(self.model.transform(x), dtype=np.float32)
        from sklearn.metrics import pairwise_distances

        out = np.empty((len(x), 2), dtype=np.float32)
        with warnings.catch_warnings():  # the distances it warns about are the ones computed here
            warnings.filterwarnings("ignore", message="Transforming new data with precomputed metric")
            for start in range(0, len(x), TRANSFORM_CHUNK):
                chunk = pairwise_distances(x[start:start + TRANSFORM_CHUNK], self.reference)
                out[start:start + TRANSFORM_CHUNK] = self.model.transform(chunk)
        return out


def _as_array(values: np.ndarray | torch.Tensor) -> np.ndarray:
    return values.numpy() if isinstance(values, torch.Tensor) else np.asarray(values)


def keep_umap_compiled() -> None:
    """Have numba keep umap-learn's compiled functions on disk, so that a later process loads them
    instead of compiling them again (compiling is most of a first UMAP's time in a process: about
    ten seconds on two cores).

    umap-learn compiles its functions in every process (pynndescent, which it uses, already keeps
    its own); this turns numba's cache on for each of them, where numba keeps it by default:
    beside the installed package (``umap/__pycache__``, like Python's ``.pyc`` files), else in
    numba's user cache folder. Never in a workspace: numba's cache files are pickles, and loading a
    pickle runs code, while a workspace may come from someone else. Done once per process; a
    function numba cannot cache is compiled as before."""
    import importlib

    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    with _jit_lock:
        if _jit_cached:
            return
        _jit_cached.append(True)
        for name in _UMAP_MODULES:
            module = importlib.import_module(f"umap.{name}")
            for obj in vars(module).values():
                if isinstance(obj, Dispatcher) and obj.__module__ == module.__name__ and isinstance(obj._cache, NullCache):
                    try:
                        obj.enable_caching()
                    except RuntimeError:  # numba found no writable place for it: compiled in memory only
                        pass


def compile_umap() -> float:
    """Compile (and keep, `keep_umap_compiled`) the code a UMAP of `fit_projection` runs, on a small
    random set of points, so that the first UMAP after installing loads it instead of compiling it;
    returns the seconds it took. `scripts/install.sh` runs it once."""
    import time

    start = time.perf_counter()
    points = np.random.default_rng(0).normal(size=(400, 8)).astype(np.float32)
    projection, _ = fit_projection(points[:300], "umap")  # the fit on a sample ...
    projection.transform(points[300:])  # ... and the rest placed on it: every function both steps run
    return time.perf_counter() - start


def umap_fit_rows(n: int, labels: np.ndarray | torch.Tensor | None, seed: int) -> np.ndarray:
    """The rows of `n` points a UMAP is fitted on, sorted: all of them up to `UMAP_FIT_POINTS`, else a
    seeded sample of exactly that many in which each class (`labels`, row for row) keeps its share
    of the points (largest remainders round; uniform without `labels`)."""
    if n <= UMAP_FIT_POINTS:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    if labels is None:
        return sample_at_most(np.arange(n), UMAP_FIT_POINTS, rng)
    labels = _as_array(labels)
    classes, sizes = np.unique(labels, return_counts=True)
    exact = sizes * UMAP_FIT_POINTS / n
    share = np.floor(exact).astype(int)
    share[np.argsort(-(exact - share), kind="stable")[: UMAP_FIT_POINTS - int(share.sum())]] += 1
    return np.sort(np.concatenate([sample_at_most(np.flatnonzero(labels == c), int(k), rng)
                                   for c, k in zip(classes, share, strict=True)]))


def describe_projection(method: str, n: int) -> str:
    """One sentence saying how `fit_projection` places `n` points with `method` (for the app to show)."""
    if method == "pca":
        return f"PCA of all {n:,} points."
    exact = f"{UMAP_EPOCHS} epochs on exact nearest neighbours"
    if n <= UMAP_FIT_POINTS:
        return f"UMAP of all {n:,} points ({exact})."
    return (f"UMAP fitted on a class-stratified sample of {UMAP_FIT_POINTS:,} of the {n:,} points ({exact}); the "
            f"other {n - UMAP_FIT_POINTS:,} are placed on it by UMAP's transform.")


def fit_projection(values: np.ndarray | torch.Tensor, method: str = "pca", seed: int = 0,
                   labels: np.ndarray | torch.Tensor | None = None) -> tuple[Projection, np.ndarray]:
    """Fit a 2-D `method` ("pca" or "umap") on `values` [N, D]; return it and the [N, 2] coords.

    A UMAP runs `UMAP_EPOCHS` epochs on the euclidean distances of at most `UMAP_FIT_POINTS` points
    (`umap_fit_rows`, stratified by `labels` when given; their neighbours are exact); the other
    points are placed on it by `Projection.transform`."""
    x = _as_array(values).astype(np.float32)
    if method not in METHODS:
        raise ValueError(f"projection must be one of {', '.join(METHODS)}; got {method!r}")
    if len(x) < 3:
        raise ValueError("need at least 3 points to project")
    if method == "pca":
        from sklearn.decomposition import PCA  # imported where used: importing the package needs no scikit-learn

        model = PCA(n_components=2, random_state=seed)
        return Projection(method, model), np.asarray(model.fit_transform(x), dtype=np.float32)
    import umap  # imported lazily: numba compiles it once per process, or loads it (`keep_umap_compiled`)
    from numba import NumbaWarning
    from sklearn.metrics import pairwise_distances

    keep_umap_compiled()
    rows = umap_fit_rows(len(x), labels, seed)
    model = umap.UMAP(n_components=2, random_state=seed, n_neighbors=min(15, len(rows) - 1), n_jobs=1,
                      n_epochs=UMAP_EPOCHS, metric="precomputed")
    projection = Projection(method, model, x[rows])
    coords = np.empty((len(x), 2), dtype=np.float32)
    rest = np.setdiff1d(np.arange(len(x)), rows)
    with warnings.catch_warnings():  # which functions numba cannot cache, and no inverse_transform: nothing to act on
        warnings.simplefilter("ignore", category=NumbaWarning)
        warnings.filterwarnings("ignore", message="using precomputed metric")
        coords[rows] = model.fit_transform(pairwise_distances(x[rows]))
        coords[rest] = projection.transform(x[rest])
    return projection, coords


def log_probs(logits: torch.Tensor) -> np.ndarray:
    """Log-softmax outputs: the space every classifier of the same classes shares."""
    return torch.log_softmax(logits.float(), dim=1).clamp_min(-20).numpy()


def shared_projection(
    logits_by_model: dict[str, torch.Tensor], reference: str, method: str = "pca", seed: int = 0
) -> dict[str, np.ndarray]:
    """Coords of every model's outputs on one projection fitted on the `reference` model's outputs.

    A model whose outputs equal the reference's gets exactly the reference's coords (`transform`
    alone would place it slightly off for PCA and elsewhere for UMAP).
    """
    ref_values = log_probs(logits_by_model[reference])
    projection, ref_coords = fit_projection(ref_values, method, seed)
    out = {}
    for name, logits in logits_by_model.items():
        if name == reference:
            out[name] = ref_coords
            continue
        values = log_probs(logits)
        out[name] = ref_coords.copy() if np.array_equal(values, ref_values) else projection.transform(values)
    return out
