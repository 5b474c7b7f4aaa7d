"""Dataset containers: an in-memory split of images, labels and per-sample metadata."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class Split:
    """Images `x` [N, C, H, W] float32 in [0, 1], labels `y` [N] int64, per-sample `meta` arrays.

    `meta` maps a name (e.g. ``"color"``, ``"mislabeled"``) to a numpy array of length N. For
    concept attributes the array holds the index into `SplitDataset.concepts[name]`.
    """

    x: torch.Tensor
    y: torch.Tensor
    meta: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.x.ndim != 4:
            raise ValueError(f"images must be [N, C, H, W]; got shape {tuple(self.x.shape)}")
        if len(self.x) != len(self.y):
            raise ValueError(f"{len(self.x)} images but {len(self.y)} labels")
        for name, values in self.meta.items():
            if len(values) != len(self.y):
                raise ValueError(f"metadata {name!r} has {len(values)} entries for {len(self.y)} samples")

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, indices: np.ndarray | list[int] | torch.Tensor) -> Split:
        """The samples at `indices`, in that order, with their metadata."""
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        np_idx = idx.numpy()
        return Split(self.x[idx], self.y[idx], {k: v[np_idx] for k, v in self.meta.items()})


@dataclass
class SplitDataset:
    """A dataset ready to train on: train and test splits plus what the UI needs to describe it.

    `concepts` maps a concept attribute (e.g. ``"color"``) to its value names; `extras` holds
    additional evaluation splits such as ``"backdoor_test"`` (triggered test images of the
    non-target classes, with their true labels). `options` records how it was built.
    """

    name: str
    train: Split
    test: Split
    class_names: list[str]
    concepts: dict[str, list[str]] = field(default_factory=dict)
    extras: dict[str, Split] = field(default_factory=dict)
    options: dict[str, object] = field(default_factory=dict)
    backdoor_target: int | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.train.x.shape[1:]
        return (int(c), int(h), int(w))

    def describe(self) -> dict[str, object]:
        """A JSON-friendly summary (sizes, classes, concepts, options)."""
        return {
            "name": self.name,
            "n_train": len(self.train),
            "n_test": len(self.test),
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "input_shape": list(self.input_shape),
            "concepts": {k: list(v) for k, v in self.concepts.items()},
            "flags": sorted(k for k in self.train.meta if self.train.meta[k].dtype == bool),
            "options": dict(self.options),
        }


def stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a seeded stratified train / test split (each class split in the same ratio)."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        n_test = int(round(len(idx) * test_fraction))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
