"""scikit-learn's handwritten digits (1,797 8x8 images), upsampled, with a fixed stratified split."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from unlearn_core.data.base import Split, SplitDataset, stratified_split
from unlearn_core.data.registry import register_dataset


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as (images [1797, 8, 8] with values 0..16, labels [1797]).

    Read straight from the file scikit-learn ships (``sklearn/datasets/data/digits.csv.gz``, the file
    ``load_digits`` reads, one image per row then its label) without importing scikit-learn, whose
    import takes most of a second of the app's first page; ``load_digits`` where the file is not found.
    """
    spec = importlib.util.find_spec("sklearn")
    folders = spec.submodule_search_locations if spec is not None else None
    path = Path(folders[0]) / "datasets" / "data" / "digits.csv.gz" if folders else None
    if path is None or not path.is_file():
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return bunch.images, bunch.target
    data = np.loadtxt(path, delimiter=",")
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)


@register_dataset("digits", "scikit-learn handwritten digits, 10 classes, 1 channel, built in")
def build_digits(size: int = 16, seed: int = 0) -> SplitDataset:
    """Digits upsampled to `size` x `size` (bilinear), pixel values scaled to [0, 1].

    The 80 / 20 split is stratified and fixed by `seed` (1,438 train / 359 test images).
    """
    if size < 8 or size > 64:
        raise ValueError(f"digits size must be between 8 and 64; got {size}")
    raw, target = digits_arrays()
    images = torch.tensor(raw, dtype=torch.float32).unsqueeze(1) / 16.0  # [N, 1, 8, 8]
    if size != 8:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    images = images.clamp(0, 1).contiguous()
    labels = np.asarray(target, dtype=np.int64)
    train_idx, test_idx = stratified_split(labels, 0.2, seed)

    def split(idx: np.ndarray) -> Split:
        return Split(images[idx], torch.from_numpy(labels[idx]), {"source_index": idx.copy()})

    return SplitDataset(
        name="digits",
        train=split(train_idx),
        test=split(test_idx),
        class_names=[str(d) for d in range(10)],
        options={"size": size, "seed": seed},
    )
