"""Erasure beyond the outputs, part 1: can the forgotten data still be read out of the
penultimate features by a linear probe?

The probe is the concept bank's balanced logistic regression (`concepts.bank.train_probe`) with
its held-out accuracy (chance 0.5). What it separates depends on the forget set:

- with a test counterpart (class or concept forgetting): test images of the forgotten slice
  against test images outside it. No model trained on these images, so the probe asks only
  "is the forgotten class / concept still linearly encoded?", not "was this image seen?";
- without one (random samples, flags): forget samples against retain samples *of the same
  classes, in the same numbers* (negatives stratified by class, `stratified_negatives`): a
  membership probe, near chance for a model that never trained on either side specially. Drawn
  uniformly from the retain set instead, the negatives of a non-IID forget set
  (``random:0.1@2,5``: forget samples of classes 2 and 5 only) would be mostly other classes, and
  the probe would separate classes 2 and 5 from the rest - class identity, which every model
  encodes, not membership. Where a class has fewer retain samples than forget samples, all of
  them are taken (the probe then balances the two sides by subsampling).

The retrained model is the reference, and it is usually far above chance for a class: a model
that never saw a 3 still maps 3s to their own region of feature space, because 3s look alike.
An unlearned model should read out about as well as the retrained one, not reach chance.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from unlearn_core.concepts.bank import MIN_IMAGES, train_probe
from unlearn_core.data import SplitDataset
from unlearn_core.forget import ForgetSet
from unlearn_core.inspect.sample import InspectionSample
from unlearn_core.train import extract_features


def probe_images(data: SplitDataset, forget: ForgetSet, sample: InspectionSample) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(positive images, negative images, what is probed) for the probe described above."""
    split, pos, neg, what = probe_rows(data, forget, sample)
    part = data.train if split == "train" else data.test
    return part.subset(pos).x, part.subset(neg).x, what


def probe_rows(data: SplitDataset, forget: ForgetSet, sample: InspectionSample) -> tuple[str, np.ndarray, np.ndarray, str]:
    """(split, positive rows, negative rows, what is probed) for the probe described above."""
    if sample.nonmember_is_slice:
        return "test", sample.nonmember_idx, sample.test_idx, "test images of the forgotten slice vs other test images"
    labels = data.train.y.numpy()
    retain = stratified_negatives(labels, sample.forget_idx, forget.retain_idx, seed=sample.seed + 1)
    return "train", sample.forget_idx, retain, "forget samples vs retain samples of the same classes"


def stratified_negatives(labels: np.ndarray, positive_idx: np.ndarray, pool_idx: np.ndarray, *, seed: int) -> np.ndarray:
    """Sorted indices drawn from `pool_idx` with the class counts of `positive_idx` (`labels` [N]
    gives each index's class): for each class, as many pool samples as positives of that class
    (all of the pool's samples of the class when it has fewer). Seeded with `seed`."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    pool = np.asarray(pool_idx, dtype=np.int64)
    pool_labels = labels[pool]
    classes, counts = np.unique(labels[np.asarray(positive_idx, dtype=np.int64)], return_counts=True)
    chosen = []
    for c, n in zip(classes, counts, strict=True):
        candidates = pool[pool_labels == c]
        chosen.append(rng.choice(candidates, n, replace=False) if len(candidates) > n else candidates)
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def probe_accuracy(model: nn.Module, positives: torch.Tensor, negatives: torch.Tensor, *, device: torch.device,
                   seed: int = 0) -> float:
    """Held-out accuracy of a linear probe telling `positives` from `negatives` in `model`'s
    penultimate features (balanced; 0.5 = not linearly readable)."""
    _check_sizes(len(positives), len(negatives))
    return features_probe_accuracy(extract_features(model, positives, device=device),
                                   extract_features(model, negatives, device=device), seed=seed)


def features_probe_accuracy(positives: torch.Tensor, negatives: torch.Tensor, *, seed: int = 0) -> float:
    """`probe_accuracy` on penultimate features already computed ([N, D] each)."""
    _check_sizes(len(positives), len(negatives))
    return train_probe(positives.double().numpy(), negatives.double().numpy(), seed=seed)[2]


def _check_sizes(n_pos: int, n_neg: int) -> None:
    if min(n_pos, n_neg) < MIN_IMAGES:
        raise ValueError(f"the probe needs at least {MIN_IMAGES} images on each side; got {n_pos} and {n_neg}")
