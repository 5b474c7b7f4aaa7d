"""Where a run's inspections read each model's outputs (penultimate features and logits) on rows of a split.

The Compare views of one run - the shared projection, the prediction matrices, the membership
scores, the probe - read the same three models on overlapping images: forget samples and test
images. Run separately, each view runs every model again on its own subset (thousands of forward
passes on a shapes run). An `OutputsFn` gives them one source instead: `stored_outputs` runs each
model once on the run's whole forget set and on the whole test split, keeps both in the
workspace's feature cache (`workspace.feature_cache`), and every view slices them. A view given
no `OutputsFn` runs its models on its own images, as the CLI's ``inspect`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from unlearn_core.data import SplitDataset
from unlearn_core.progress import ProgressFn, no_progress
from unlearn_core.workspace.feature_cache import ModelOutputs, model_outputs, outputs_on_rows

OutputsFn = Callable[[str, str, np.ndarray], ModelOutputs]  # (model role, "train" | "test", rows) -> outputs
WHOLE_TEST_MAX = 2500  # up to this many test images a model runs once on all of them (the views read most)


def stored_outputs(root: str | Path, models: dict[str, nn.Module], data: SplitDataset, forget_idx: np.ndarray, *,
                   progress: ProgressFn = no_progress) -> OutputsFn:
    """An `OutputsFn` over `models` (by role) reading, from the workspace at `root`, each model's
    outputs on the forget rows `forget_idx` of the train split and on the whole test split (up to
    `WHOLE_TEST_MAX` images), each computed once (`feature_cache.outputs_on_rows`,
    `feature_cache.model_outputs`), and slicing them. Other rows (a probe's retain negatives, the
    test rows of a larger test split) are read or computed as asked, and kept too."""
    forget_idx = np.sort(np.asarray(forget_idx, dtype=np.int64))
    held: dict[tuple[str, str], ModelOutputs] = {}

    def base(who: str, split: str) -> ModelOutputs:
        if (who, split) not in held:
            held[who, split] = (model_outputs(root, models[who], data, "test", progress=progress) if split == "test"
                                else outputs_on_rows(root, models[who], data, "train", forget_idx, progress=progress))
        return held[who, split]

    def outputs(who: str, split: str, rows: np.ndarray) -> ModelOutputs:
        rows = np.asarray(rows, dtype=np.int64)
        if split == "test":
            pos = rows if len(data.test) <= WHOLE_TEST_MAX else None
        else:
            pos = _positions(forget_idx, rows)
        if pos is None:
            return outputs_on_rows(root, models[who], data, split, rows, progress=progress)
        found = base(who, split)
        index = torch.as_tensor(pos)
        return ModelOutputs(found.features[index], found.logits[index])

    return outputs


def read_logits(outputs: OutputsFn | None, models: dict[str, nn.Module], who: str, data: SplitDataset, split: str,
                rows: np.ndarray, *, device: torch.device | None) -> torch.Tensor:
    """`who`'s logits [len(rows), K] on `rows` of `split`: from `outputs` when given, else a forward
    pass of `models[who]` over those images on `device` (`train.predict_logits`)."""
    if outputs is not None:
        return outputs(who, split, np.asarray(rows, dtype=np.int64)).logits
    from unlearn_core.train import predict_logits

    return predict_logits(models[who], _images(data, split, rows), device=device)


def _images(data: SplitDataset, split: str, rows: np.ndarray) -> torch.Tensor:
    return (data.train if split == "train" else data.test).subset(np.asarray(rows, dtype=np.int64)).x


def _positions(sorted_idx: np.ndarray, rows: np.ndarray) -> np.ndarray | None:
    """Where each of `rows` sits in `sorted_idx`, or None when one of them is not there."""
    pos = np.searchsorted(sorted_idx, rows)
    if not (pos < len(sorted_idx)).all() or not np.array_equal(sorted_idx[pos], rows):
        return None
    return pos


__all__ = ["WHOLE_TEST_MAX", "OutputsFn", "read_logits", "stored_outputs"]
