"""scikit-learn's handwritten digits (1,797 8x8 images), upsampled, with a fixed stratified split."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from unlearn_core.data.base import Split, SplitDataset, stratified_split
from unlearn_core.data.registry import register_dataset


@register_dataset("digits", "scikit-learn handwritten digits, 10 classes, 1 channel, built in")
def build_digits(size: int = 16, seed: int = 0) -> SplitDataset:
    """Digits upsampled to `size` x `size` (bilinear), pixel values scaled to [0, 1].

    The 80 / 20 split is stratified and fixed by `seed` (1,437 train / 360 test images).
    """
    from sklearn.datasets import load_digits  # here, not at the top: listing datasets needs no scikit-learn

    if size < 8 or size > 64:
        raise ValueError(f"digits size must be between 8 and 64; got {size}")
    bunch = load_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0  # [N, 1, 8, 8]
    if size != 8:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    images = images.clamp(0, 1).contiguous()
    labels = np.asarray(bunch.target, dtype=np.int64)
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
