"""Seeded subsamples of index sets: at most N of them, or a number per class.

One place for the "a seeded random sample of at most N images" that concept inference, the
bottleneck, IG and the methods' retain subsets all take, so they draw alike (sorted indices,
numpy's `Generator.choice` without replacement; nothing is drawn when the set already fits).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Seed = int | np.random.Generator


def sample_at_most(idx: np.ndarray, n: int, seed: Seed) -> np.ndarray:
    """`idx` itself if it has at most `n` entries, else a seeded sorted sample of `n` of them.

    `seed` is an int or a numpy Generator (to draw several samples from one stream).
    """
    idx = np.asarray(idx)
    if len(idx) <= n:
        return idx
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return np.sort(rng.choice(idx, size=n, replace=False))


def sample_per_class(idx: np.ndarray, labels: np.ndarray, count: Callable[[int], int], seed: Seed) -> np.ndarray:
    """Sorted indices with at most ``count(n_c)`` seeded picks from each class (n_c: its size in `idx`).

    `labels` are the labels of `idx`, row for row. E.g. ``count=lambda n: 1000`` keeps up to 1,000
    per class (UNSIR's retain subset), ``count=lambda n: (n + 1) // 2`` half of every class.
    """
    idx, labels = np.asarray(idx), np.asarray(labels)
    if len(idx) != len(labels):
        raise ValueError(f"{len(idx)} indices but {len(labels)} labels")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    parts = [sample_at_most(idx[labels == c], count(int((labels == c).sum())), rng) for c in np.unique(labels)]
    return np.sort(np.concatenate(parts)) if parts else idx[:0]
