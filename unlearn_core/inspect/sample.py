"""The fixed, seeded sample of images every inspection runs on.

Inspections (CKA, membership threshold, per-sample rows, probe) compare several models on *the
same* images, so the sample is drawn once from the run's seed and reused for every model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unlearn_core.data import SplitDataset
from unlearn_core.forget import ForgetSet

DEFAULT_PER_SIDE = 300


@dataclass(frozen=True)
class InspectionSample:
    """Sorted indices drawn with `seed`, at most `per_side` each.

    - `forget_idx`: train indices of forget samples;
    - `test_idx`: test images outside the forgotten slice (the kept classes; the whole test set
      when the forget set has no test counterpart), for layer similarity on unforgotten data;
    - `nonmember_idx`: the test images a membership attack contrasts with the forget samples:
      the forgotten slice (test images of the forgotten classes / concept) when there is one,
      the whole test set otherwise (as the loss attack in `metrics.evaluate` does).
    """

    forget_idx: np.ndarray
    test_idx: np.ndarray
    nonmember_idx: np.ndarray
    nonmember_is_slice: bool
    seed: int


def _draw(pool: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    pool = np.asarray(pool, dtype=np.int64)
    return np.sort(rng.choice(pool, size=n, replace=False)) if len(pool) > n else np.sort(pool)


def inspection_sample(
    data: SplitDataset, forget: ForgetSet, *, seed: int = 0, per_side: int = DEFAULT_PER_SIDE
) -> InspectionSample:
    """Draw the sample (see InspectionSample); ValueError for an empty forget set or tiny sample."""
    if per_side < 2:
        raise ValueError(f"the inspection sample needs at least 2 images per side; got {per_side}")
    if forget.n_forget == 0:
        raise ValueError(f"the forget set {forget.spec!r} is empty: nothing to inspect")
    rng = np.random.default_rng(seed)
    n_test = len(data.test)
    sliced = forget.test_forget_idx is not None and len(forget.test_forget_idx) >= 2
    nonmember_pool = forget.test_forget_idx if sliced else np.arange(n_test)
    return InspectionSample(
        forget_idx=_draw(forget.forget_idx, per_side, rng),
        test_idx=_draw(forget.test_retain_idx(n_test), per_side, rng),
        nonmember_idx=_draw(nonmember_pool, per_side, rng),
        nonmember_is_slice=bool(sliced),
        seed=seed,
    )

