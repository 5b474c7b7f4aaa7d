"""Erasure beyond the outputs, part 1: can the forgotten data still be read out of the
penultimate features by a linear probe?

The probe is the concept bank's balanced logistic regression (`concepts.bank.train_probe`) with
its held-out accuracy (chance 0.5). What it separates depends on the forget set:

- with a test counterpart (class or concept forgetting): test images of the forgotten slice
  against test images outside it. No model trained on these images, so the probe asks only
  "is the forgotten class / concept still linearly encoded?", not "was this image seen?";
- without one (random samples, flags): forget samples against as many retain samples: a
  membership probe, near chance for a model that never trained on either side specially.

The retrained model is the reference, and it is usually far above chance for a class: a model
that never saw a 3 still maps 3s to their own region of feature space, because 3s look alike.
An unlearned model should read out about as well as the retrained one, not reach chance.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..concepts.bank import MIN_IMAGES, train_probe
from ..data import SplitDataset
from ..forget import ForgetSet
from ..train import extract_features
from .sample import InspectionSample


def probe_images(data: SplitDataset, forget: ForgetSet, sample: InspectionSample) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(positive images, negative images, what is probed) for the probe described above."""
    if sample.nonmember_is_slice:
        pos = data.test.subset(sample.nonmember_idx).x
        neg = data.test.subset(sample.test_idx).x
        return pos, neg, "test images of the forgotten slice vs other test images"
    rng = np.random.default_rng(sample.seed + 1)
    retain = forget.retain_idx
    if len(retain) > len(sample.forget_idx):
        retain = np.sort(rng.choice(retain, len(sample.forget_idx), replace=False))
    return (data.train.subset(sample.forget_idx).x, data.train.subset(retain).x,
            "forget samples vs retain samples")


def probe_accuracy(model: nn.Module, positives: torch.Tensor, negatives: torch.Tensor, *, device: torch.device,
                   seed: int = 0) -> float:
    """Held-out accuracy of a linear probe telling `positives` from `negatives` in `model`'s
    penultimate features (balanced; 0.5 = not linearly readable)."""
    if min(len(positives), len(negatives)) < MIN_IMAGES:
        raise ValueError(f"the probe needs at least {MIN_IMAGES} images on each side; "
                         f"got {len(positives)} and {len(negatives)}")
    pos = extract_features(model, positives, device=device).double().numpy()
    neg = extract_features(model, negatives, device=device).double().numpy()
    return train_probe(pos, neg, seed=seed)[2]
