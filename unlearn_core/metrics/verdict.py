"""Is an unlearned model's figure inside retraining's own seed-to-seed spread?

A seed study gives, for each headline metric, K values from K unlearned runs (K method seeds) and
K values from K retrained models (K training seeds). The verdict for a metric is:

- ``"no signal"`` where the metric's membership attack is at chance on the retrained models (their
  mean SVC attack accuracy within 5 points of 50%, `metrics.at_chance`): MIA-efficacy is then
  noise, whatever its values;
- ``"outside"`` when a two-sided **permutation test** of the difference of means rejects "unlearned
  and retrained values come from one distribution" at level α = 0.05 **and** the means differ by
  more than `MIN_GAP` (half a percentage point: a smaller difference is not called a miss however
  consistent it is);
- ``"within"`` otherwise.

The permutation test (Fisher/Pitman) enumerates every way of splitting the 2K pooled values into
two groups of K (C(16, 8) = 12,870 for K = 8; a seeded Monte-Carlo sample of `MAX_PERMUTATIONS`
beyond that) and reports the share of splits whose |difference of means| is at least the observed
one. It assumes nothing about the distribution (values may be tied, skewed or constant on one
side), and its false-alarm rate under "one distribution" is at most α: for K = 8 and untied
values exactly 642/12,870 = 4.99%, since p-values are multiples of 2/12,870 (`false_alarm_rate`).
The margin only lowers it.

The noise floor is what retraining disagrees with itself by: per metric the retrained models'
standard deviation, and the mean average gap (SalUn's, in points) over every pair of retrained
models; an unlearned model's gap is comparable when averaged over every (unlearned, retrained) pair.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np

from unlearn_core.metrics import at_chance, avg_gap

ALPHA = 0.05
MIN_GAP = 0.005  # half a percentage point, in the metrics' [0, 1] units
MAX_PERMUTATIONS = 20_000
WITHIN, OUTSIDE, NO_SIGNAL = "within", "outside", "no signal"
ATTACK_OF = {"mia_efficacy": "mia_attack_acc"}  # metric -> the attack accuracy that says whether it has signal


def clean_values(values: Sequence[float | None]) -> np.ndarray:
    """The finite values of a member list (None and NaN dropped), as float64."""
    arr = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return arr[np.isfinite(arr)]


@functools.lru_cache(maxsize=16)
def _every_split(n_a: int, n: int) -> np.ndarray:
    """Every group-A membership mask [C(n, n_a), n] (built once per size: a study judges several metrics)."""
    masks = np.zeros((math.comb(n, n_a), n), dtype=bool)
    for row, chosen in enumerate(itertools.combinations(range(n), n_a)):
        masks[row, list(chosen)] = True
    masks.flags.writeable = False
    return masks


def _splits(n_a: int, n_b: int, rng: np.random.Generator) -> np.ndarray:
    """Group-A membership masks [S, n_a + n_b]: every split when few enough, else a seeded sample."""
    n = n_a + n_b
    if math.comb(n, n_a) <= MAX_PERMUTATIONS:
        return _every_split(n_a, n)
    order = np.argsort(rng.random((MAX_PERMUTATIONS, n)), axis=1)
    masks = np.zeros((MAX_PERMUTATIONS, n), dtype=bool)
    np.put_along_axis(masks, order[:, :n_a], True, axis=1)
    return masks


def permutation_p_value(a: Sequence[float], b: Sequence[float], seed: int = 0) -> float:
    """Two-sided p-value of the difference of means of `a` and `b` under relabelling (exact when
    the splits number at most `MAX_PERMUTATIONS`); 1.0 when every value is equal."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) == 0 or len(b) == 0:
        raise ValueError("a permutation test needs values on both sides")
    pooled = np.concatenate([a, b])
    observed = abs(a.mean() - b.mean())
    masks = _splits(len(a), len(b), np.random.default_rng(seed))
    sum_a = masks.astype(np.float64) @ pooled
    diffs = np.abs(sum_a / len(a) - (pooled.sum() - sum_a) / len(b))
    return float(np.mean(diffs >= observed - 1e-12 * max(1.0, abs(observed))))


def false_alarm_rate(k: int, alpha: float = ALPHA) -> float:
    """The permutation test's exact false-alarm rate for K values per side with no ties: the share
    of the C(2K, K) equally likely splits whose p-value is at most `alpha`."""
    total = math.comb(2 * k, k)
    if total > MAX_PERMUTATIONS:
        return alpha  # Monte-Carlo p-values: the level holds up to sampling error
    # p-values are multiples of 2 / total (a split and its complement give the same |difference|)
    return 2 * math.floor(alpha * total / 2) / total


def metric_verdict(unlearned: Sequence[float | None], retrained: Sequence[float | None], *,
                   attack_acc: Sequence[float | None] | None = None, alpha: float = ALPHA,
                   min_gap: float = MIN_GAP) -> str | None:
    """The verdict on one metric (see the module doc); None when either side has no values (a metric
    that does not apply, e.g. the forgotten-slice test accuracy of a random forget set)."""
    u, r = clean_values(unlearned), clean_values(retrained)
    if len(u) == 0 or len(r) == 0:
        return None
    if attack_acc is not None:
        accs = clean_values(attack_acc)
        if len(accs) and at_chance(float(accs.mean())):
            return NO_SIGNAL
    if abs(u.mean() - r.mean()) <= min_gap:
        return WITHIN
    return OUTSIDE if permutation_p_value(u, r) <= alpha else WITHIN


def spread(values: Sequence[float | None]) -> dict[str, object]:
    """{"mean", "std", "values"} of a metric over members (population std; None without values)."""
    clean = clean_values(values)
    return {
        "mean": float(clean.mean()) if len(clean) else None,
        "std": float(clean.std()) if len(clean) else None,
        "values": [None if v is None or not math.isfinite(v) else float(v) for v in values],
    }


def pairwise_gaps(a: Sequence[Mapping[str, float | None]], b: Sequence[Mapping[str, float | None]],
                  *, same: bool = False) -> np.ndarray:
    """SalUn's average gap (points) of every a_i against every b_j, or of every pair i < j of one
    list when `same`; a row per a_i, NaN where a pair has no gap."""
    if same:
        return np.array([avg_gap(a[i], a[j]) for i, j in itertools.combinations(range(len(a)), 2)])
    return np.array([[avg_gap(x, y) for y in b] for x in a])


def noise_floor(retrained: Sequence[Mapping[str, float | None]], metrics: Sequence[str]) -> dict[str, float | None]:
    """What retraining disagrees with itself by: ``avg_gap``, the mean gap (points) between two
    retrained models, and per metric the retrained models' standard deviation."""
    gaps = pairwise_gaps(retrained, retrained, same=True)
    finite = gaps[np.isfinite(gaps)]
    floor: dict[str, float | None] = {"avg_gap": float(finite.mean()) if len(finite) else None}
    for key in metrics:
        floor[key] = spread([m.get(key) for m in retrained])["std"]
    return floor


def judge(unlearned: Sequence[Mapping[str, float | None]], retrained: Sequence[Mapping[str, float | None]],
          metrics: Sequence[str]) -> dict[str, str]:
    """The verdict per metric of `metrics` (those that apply) from the members' figures."""
    verdicts: dict[str, str] = {}
    for key in metrics:
        attack = ATTACK_OF.get(key)
        verdict = metric_verdict([m.get(key) for m in unlearned], [m.get(key) for m in retrained],
                                 attack_acc=[m.get(attack) for m in retrained] if attack else None)
        if verdict is not None:
            verdicts[key] = verdict
    return verdicts


def overall(verdicts: Mapping[str, str]) -> str:
    """``"outside"`` if any metric is outside retraining's spread, else ``"within"``."""
    return OUTSIDE if OUTSIDE in verdicts.values() else WITHIN
