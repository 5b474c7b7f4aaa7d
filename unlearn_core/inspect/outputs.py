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

import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from unlearn_core.data import SplitDataset
from unlearn_core.progress import ProgressFn, no_progress
from unlearn_core.workspace.feature_cache import ModelOutputs, model_outputs, outputs_on_rows, outputs_stored

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
        pos = _base_positions(data, forget_idx, split, rows)
        if pos is None:
            return outputs_on_rows(root, models[who], data, split, rows, progress=progress)
        found = base(who, split)
        index = torch.as_tensor(pos)
        return ModelOutputs(found.features[index], found.logits[index])

    return outputs


def _base_positions(data: SplitDataset, forget_idx: np.ndarray, split: str, rows: np.ndarray) -> np.ndarray | None:
    """Where `stored_outputs` reads `rows` of `split` from: their positions in the base pass of
    that split (the whole test split up to `WHOLE_TEST_MAX` images, the sorted forget rows of the
    train split), or None when they are read (or computed) on their own."""
    if split == "test":
        return rows if len(data.test) <= WHOLE_TEST_MAX else None
    return _positions(forget_idx, rows)


def pending_images(root: str | Path, models: dict[str, nn.Module], data: SplitDataset, forget_idx: np.ndarray,
                   requests: Iterable[tuple[str, np.ndarray]]) -> dict[str, int]:
    """Per model role, how many images an `OutputsFn` of `stored_outputs(root, models, data,
    forget_idx)` would run that model on to answer `requests` (the (split, rows) pairs a view
    asks for), because the workspace does not hold those outputs yet: all 0 when everything is
    stored. A pass over a base (the whole test split, the forget rows) counts once however many
    requests read it. Looks at the files only (`feature_cache.outputs_stored`)."""
    forget_idx = np.sort(np.asarray(forget_idx, dtype=np.int64))
    passes: dict[tuple[str, bytes], tuple[str, np.ndarray | None, int]] = {}  # one entry per distinct pass
    for split, rows in requests:
        rows = np.asarray(rows, dtype=np.int64)
        if _base_positions(data, forget_idx, split, rows) is None:
            passes[split, rows.tobytes()] = (split, rows, len(rows))
        elif split == "test":
            passes["test", b"whole"] = ("test", None, len(data.test))
        else:
            passes["train", b"forget"] = ("train", forget_idx, len(forget_idx))
    return {who: sum(n for split, rows, n in passes.values()
                     if not outputs_stored(root, model, data, split, rows))
            for who, model in models.items()}


# Images the outputs estimate times: several of `train.extract_features`'s batches, the batches
# `feature_cache` runs too, so the measured cost per image is the one the real pass will have.
OUTPUTS_PROBE_IMAGES = 256


@torch.no_grad()
def estimate_outputs_seconds(model: nn.Module, x: torch.Tensor, *, n_images: int, probe: int = OUTPUTS_PROBE_IMAGES,
                             clock: Callable[[], float] = time.perf_counter) -> float:
    """A rough time, measured here and now, for running a model of `model`'s architecture over
    `n_images` images like `x` as `stored_outputs` does (penultimate features and logits, on the
    CPU, `train.extract_features`'s batches): one pass over the first `probe` images of `x`
    timed (after a warm-up on one image) and scaled linearly. 0 without timing anything when
    `n_images` is 0. `clock` is the timer (a stub in tests)."""
    if n_images < 0:
        raise ValueError(f"the estimate needs a non-negative number of images; got {n_images}")
    if n_images == 0:
        return 0.0
    from unlearn_core.train import extract_features

    sample = x[: max(1, min(probe, len(x)))]
    cpu = torch.device("cpu")
    model.head(extract_features(model, sample[:1], device=cpu))  # warm-up: first-call overheads
    begin = clock()
    model.head(extract_features(model, sample, device=cpu))  # features in eval mode, as the real pass
    return (clock() - begin) / len(sample) * n_images


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


__all__ = ["OUTPUTS_PROBE_IMAGES", "WHOLE_TEST_MAX", "OutputsFn", "estimate_outputs_seconds", "pending_images", "read_logits", "stored_outputs"]
