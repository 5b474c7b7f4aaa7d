"""Prediction matrices: where the original model's predictions go after unlearning, beside where
retraining sends them ("where do the forgotten 3s go, and is it where retraining sends them?").

Row r, column c of a matrix counts the samples the original model predicts as class r and the
other model predicts as class c. Every row sums to the number of samples the original predicts
as r, and the whole matrix to the number of samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def prediction_matrix(pred_from: np.ndarray | torch.Tensor, pred_to: np.ndarray | torch.Tensor,
                      num_classes: int) -> np.ndarray:
    """Counts [K, K] of (pred_from, pred_to) pairs over the same samples (int64)."""
    a = np.asarray(pred_from, dtype=np.int64)
    b = np.asarray(pred_to, dtype=np.int64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"two prediction vectors of one length are needed; got shapes {a.shape} and {b.shape}")
    if len(a) and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= num_classes):
        raise ValueError(f"predictions must be class indices in 0..{num_classes - 1}")
    out = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(out, (a, b), 1)
    return out


@dataclass
class PredictionMatrices:
    """original -> model matrices for one set of samples; "original" is original -> original
    (diagonal: how many the original predicts as each class), so all three read alike."""

    n: int
    matrices: dict[str, np.ndarray]  # "original" | "unlearned" | "retrain" -> [K, K]

    def to_dict(self) -> dict[str, object]:
        return {"n": self.n, **{who: m.tolist() for who, m in self.matrices.items()}}


def prediction_matrices(predictions: dict[str, np.ndarray], num_classes: int) -> PredictionMatrices:
    """Matrices of every model's predictions against the ``original`` model's, on the same samples."""
    if "original" not in predictions:
        raise ValueError("the original model's predictions are needed as the rows")
    base = predictions["original"]
    return PredictionMatrices(len(base), {who: prediction_matrix(base, p, num_classes) for who, p in predictions.items()})
