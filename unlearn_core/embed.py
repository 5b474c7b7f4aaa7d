"""2-D projections of model representations: PCA at once, UMAP on request; fitted once, reused.

Two uses:
- the train set in the original model's penultimate feature space (Forget set page: select
  samples by box or lasso);
- original, unlearned and retrained models on one shared projection (Compare page). Their
  penultimate spaces are unrelated (a retrained network's feature axes mean nothing to the
  original's), so the shared projection is fitted on the original model's log-probabilities
  and the other models' log-probabilities go through the same fitted map.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

METHODS = ("pca", "umap")


@dataclass
class Projection:
    """A fitted 2-D map; `transform` places new points in the same coordinates."""

    method: str
    model: Any

    def transform(self, values: np.ndarray | torch.Tensor) -> np.ndarray:
        return np.asarray(self.model.transform(_as_array(values)), dtype=np.float32)


def _as_array(values: np.ndarray | torch.Tensor) -> np.ndarray:
    return values.numpy() if isinstance(values, torch.Tensor) else np.asarray(values)


def fit_projection(values: np.ndarray | torch.Tensor, method: str = "pca", seed: int = 0) -> tuple[Projection, np.ndarray]:
    """Fit a 2-D `method` ("pca" or "umap") on `values` [N, D]; return it and the [N, 2] coords."""
    x = _as_array(values).astype(np.float32)
    if method not in METHODS:
        raise ValueError(f"projection must be one of {', '.join(METHODS)}; got {method!r}")
    if len(x) < 3:
        raise ValueError("need at least 3 points to project")
    if method == "pca":
        from sklearn.decomposition import PCA  # imported where used: importing the package needs no scikit-learn

        model = PCA(n_components=2, random_state=seed)
    else:
        import umap  # imported lazily: numba compiles it once per process (about 10 s)

        model = umap.UMAP(n_components=2, random_state=seed, n_neighbors=min(15, len(x) - 1), n_jobs=1)
    coords = model.fit_transform(x)
    return Projection(method, model), np.asarray(coords, dtype=np.float32)


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
