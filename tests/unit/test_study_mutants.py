"""Known answers for the seed study's statistics at the edges the mutation run (issue 22) found
unpinned: the permutation test's unequal sides, its Monte-Carlo branch and its two thresholds
(α and the minimum gap), the exact false-alarm rate at other K and α, the spread and noise floor
of one or no value, and the ε rules' boundaries (median ties, the point-mass ratio, δ, K).

All inputs are a few hand-picked numbers; each expected value is worked out in a comment."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from unlearn_core.metrics.epsilon import (
    BUCKET,
    DELTA,
    EPSILON_CAP,
    INTERVAL_SLACK,
    _interval_rates,
    _single_threshold_rates,
    epsilon_bound,
    example_epsilon,
    example_points,
    forgetting_quality,
    max_scored_epsilon,
    null_forgetting_quality,
    per_example_epsilon,
)
from unlearn_core.metrics.verdict import (
    MAX_PERMUTATIONS,
    MIN_GAP,
    NO_SIGNAL,
    OUTSIDE,
    WITHIN,
    _every_split,
    _splits,
    clean_values,
    false_alarm_rate,
    judge,
    metric_verdict,
    noise_floor,
    overall,
    pairwise_gaps,
    permutation_p_value,
    spread,
)


# -- the permutation test ------------------------------------------------------------------------
def test_permutation_p_value_with_unequal_sides() -> None:
    """a = (0, 0), b = (1, 1, 1): of the C(5, 2) = 10 ways to pick A's two values from the pool,
    only (0, 0) reaches the observed |mean difference| 1 (one 1 gives |1/2 - 2/3|, two give
    |1 - 1/3|): p = 1/10; the same with the sides swapped."""
    assert permutation_p_value([0.0, 0.0], [1.0, 1.0, 1.0]) == pytest.approx(0.1)
    assert permutation_p_value([1.0, 1.0, 1.0], [0.0, 0.0]) == pytest.approx(0.1)
    # a = (0, 1), b = (1, 1, 1): observed |1/2 - 1| = 1/2; splits with A = (0, x): 4 of 10 give
    # |1/2 - 1| = 1/2, the 6 splits without the 0 give |1 - 2/3| = 1/3 < 1/2: p = 4/10
    assert permutation_p_value([0.0, 1.0], [1.0, 1.0, 1.0]) == pytest.approx(0.4)


def test_every_split_enumerates_each_group_once() -> None:
    masks = _every_split(2, 4)
    assert masks.shape == (6, 4) and masks.dtype == bool
    assert sorted(tuple(np.flatnonzero(m)) for m in masks) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    assert not masks.flags.writeable  # cached and shared: nobody may change it
    assert _splits(2, 2, np.random.default_rng(0)) is masks  # exact below MAX_PERMUTATIONS


def test_monte_carlo_splits_beyond_the_exact_limit() -> None:
    """K = 10 per side: C(20, 10) = 184,756 > 20,000 splits, so a seeded sample of 20,000 random
    splits, each with exactly 10 values in A, reproducible for one seed and different for another."""
    masks = _splits(10, 10, np.random.default_rng(3))
    assert masks.shape == (MAX_PERMUTATIONS, 20) and masks.dtype == bool
    assert (masks.sum(1) == 10).all()
    assert np.array_equal(masks, _splits(10, 10, np.random.default_rng(3)))
    assert not np.array_equal(masks, _splits(10, 10, np.random.default_rng(4)))
    masks_3_17 = _splits(3, 17, np.random.default_rng(0))  # C(20, 3) = 1,140: exact, every 3-subset
    assert masks_3_17.shape == (1140, 20) and (masks_3_17.sum(1) == 3).all()


def test_monte_carlo_p_value_is_close_to_the_exact_one() -> None:
    """The sampled p-value of K = 10 per side against the exact one (all 184,756 splits): its
    standard error at p ~ 0.25 is sqrt(p (1 - p) / 20,000) ~ 0.003, so 0.015 is five of them."""
    a = np.array([0.1, 0.5, 0.3, 0.9, 0.2, 0.7, 0.4, 0.6, 0.8, 0.55])
    b = a + 0.12
    pooled = np.concatenate([a, b])
    masks = _every_split(10, 20).astype(np.float64)
    sum_a = masks @ pooled
    exact = float(np.mean(np.abs(sum_a / 10 - (pooled.sum() - sum_a) / 10) >= 0.12 - 1e-12))
    got = permutation_p_value(a, b, seed=1)
    assert 0.1 < exact < 0.5 and got == pytest.approx(exact, abs=0.015)
    assert got == permutation_p_value(a, b, seed=1) and got != permutation_p_value(a, b, seed=2)


def test_false_alarm_rate_at_other_sizes_and_levels() -> None:
    assert false_alarm_rate(4) == pytest.approx(2 / 70)  # 2 floor(0.05 x 70 / 2) / 70
    assert false_alarm_rate(5) == pytest.approx(12 / 252)  # 2 floor(6.3) / 252
    assert false_alarm_rate(8, alpha=0.1) == pytest.approx(1286 / 12870)  # 2 floor(643.5) / 12870
    assert false_alarm_rate(10) == 0.05 and false_alarm_rate(10, alpha=0.01) == 0.01  # Monte-Carlo: α itself


def test_the_verdict_thresholds_are_inclusive() -> None:
    """Means exactly `min_gap` apart are within (the gap must exceed it); a p-value exactly α is
    outside (p <= α). K = 4 fully separated values: p = 2 / 70."""
    assert metric_verdict([1.0] * 4, [0.0] * 4, min_gap=1.0) == WITHIN
    assert metric_verdict([1.0] * 4, [0.0] * 4, min_gap=0.99) == OUTSIDE
    assert metric_verdict([1.0] * 4, [0.0] * 4, alpha=2 / 70) == OUTSIDE
    assert metric_verdict([1.0] * 4, [0.0] * 4, alpha=1 / 70) == WITHIN
    assert metric_verdict([0.5, 0.5], [0.5 + MIN_GAP / 2] * 2) == WITHIN  # a difference under the margin
    # an attack list with no values says nothing: the verdict is the test's
    assert metric_verdict([1.0] * 4, [0.0] * 4, attack_acc=[None, float("nan")]) == OUTSIDE
    assert metric_verdict([], [0.0] * 4) is None and metric_verdict([0.0] * 4, [None]) is None


def test_judge_reads_each_metric_and_its_attack() -> None:
    """K = 4: forget accuracy fully separated (p = 2/70, gap 1) is outside; MIA-efficacy with the
    retrained models' attack at 0.5 is no signal, at 0.7 it is judged like any metric."""
    unlearned = [{"forget_acc": 1.0, "mia_efficacy": 0.9}] * 4
    retrained = [{"forget_acc": 0.0, "mia_efficacy": 0.1, "mia_attack_acc": 0.5}] * 4
    metrics = ("forget_acc", "mia_efficacy", "test_acc")
    assert judge(unlearned, retrained, metrics) == {"forget_acc": OUTSIDE, "mia_efficacy": NO_SIGNAL}
    informative = [{**m, "mia_attack_acc": 0.7} for m in retrained]
    assert judge(unlearned, informative, metrics) == {"forget_acc": OUTSIDE, "mia_efficacy": OUTSIDE}
    # the unlearned models' own attack accuracy is not the one read
    assert judge([{**m, "mia_attack_acc": 0.5} for m in unlearned], informative, ("mia_efficacy",)) == \
        {"mia_efficacy": OUTSIDE}
    assert overall({}) == WITHIN and overall({"a": NO_SIGNAL}) == WITHIN


def test_spread_and_noise_floor_of_one_or_no_value() -> None:
    assert spread([]) == {"mean": None, "std": None, "values": []}
    assert spread([None, float("nan")]) == {"mean": None, "std": None, "values": [None, None]}
    assert spread([0.25, float("inf")]) == {"mean": 0.25, "std": 0.0, "values": [0.25, None]}
    assert clean_values([1, None, float("nan"), 2]).tolist() == [1.0, 2.0]
    assert clean_values([1, 2]).dtype == np.float64  # whole numbers too: float64, as documented
    # one retrained model: no pair, so no gap; its spread is 0
    assert noise_floor([{"forget_acc": 0.2, "test_acc": 0.9}], ("forget_acc",)) == {"avg_gap": None, "forget_acc": 0.0}
    three = [{"forget_acc": 0.0, "retain_acc": 1.0, "test_acc": 0.9, "mia_efficacy": 0.5},
             {"forget_acc": 0.4, "retain_acc": 1.0, "test_acc": 0.9, "mia_efficacy": 0.5},
             {"forget_acc": 0.2, "retain_acc": 1.0, "test_acc": 0.9, "mia_efficacy": 0.5}]
    # pairs differ only in forget accuracy: 0.4, 0.2, 0.2 -> gaps 10, 5, 5 points (mean of 4 metrics)
    assert pairwise_gaps(three, three, same=True) == pytest.approx([10.0, 5.0, 5.0])
    floor = noise_floor(three, ("forget_acc", "test_acc"))
    assert floor["avg_gap"] == pytest.approx(20 / 3) and floor["test_acc"] == 0.0
    assert floor["forget_acc"] == pytest.approx(math.sqrt(0.08 / 3))  # population std of 0, 0.4, 0.2


# -- ε and F -------------------------------------------------------------------------------------
def test_epsilon_bound_uses_delta_and_both_sides() -> None:
    # FPR 1/4, FNR 1/8: max(log(1 - δ - 1/4) - log(1/8), log(1 - δ - 1/8) - log(1/4)) = log(6 - 8δ)
    assert epsilon_bound([0.25], [0.125])[0] == pytest.approx(math.log(6 - 8 * DELTA))
    assert epsilon_bound([0.125], [0.25])[0] == pytest.approx(math.log(6 - 8 * DELTA))
    assert epsilon_bound([0.25], [0.125], delta=0.25)[0] == pytest.approx(math.log(4.0))  # log(0.5) - log(1/8)
    assert np.isnan(epsilon_bound([0.0, 0.5], [0.5, 0.0])).all()  # one rate 0: a discarded rule (NaN)
    assert epsilon_bound([0.9], [0.9])[0] == 0.0  # worse than chance: 0, not negative


def test_example_epsilon_boundaries() -> None:
    # both sides constant and equal: 0; constant and different: the cap
    assert example_epsilon([2.0, 2.0], [2.0, 2.0]) == 0.0
    assert example_epsilon([2.0, 2.0], [3.0, 3.0]) == EPSILON_CAP
    # a side spanning exactly 1% of the other's range is not a point mass: ranges 0.04 and 4. The
    # best rule, "unlearned if in [0, 0.04]" (or ">= 0.04"), has FNR 1/2, FPR 1/3: ε = log(1.5 - 3δ)
    assert example_epsilon([0.0, 0.04], [-2.0, 0.02, 2.0]) == pytest.approx(math.log(1.5 - 3 * DELTA))
    assert example_epsilon([0.0, 0.039], [-2.0, 0.02, 2.0]) == EPSILON_CAP  # under 1%: a point mass
    # two values per side, interleaved (0 < 1 < 2 < 3 as u r u r): the best rule has FPR 1/2 and
    # FNR 0 or the reverse (discarded) or both 1/2 (chance): every bound is 0
    assert example_epsilon([0.0, 2.0], [1.0, 3.0]) == 0.0
    assert example_epsilon([0.0, 1.0], [2.0, 3.0], delta=0.5) == EPSILON_CAP  # separated: ∞, capped


def test_example_epsilon_is_symmetric_in_the_two_sides_and_ties_in_the_median() -> None:
    """The ε of (u, r) equals that of (r, u); with equal medians the unlearned side is taken as
    positive, which changes nothing either: one crossing value in eight (FPR = FNR = 1/8)."""
    u = np.array([0.0, 1, 2, 3, 4, 5, 6, 20])
    r = np.array([7.0, 8, 9, 10, 11, 12, 13, 3.5])
    assert example_epsilon(r, u) == pytest.approx(math.log(7 - 8 * DELTA))
    same_median = np.array([-3.0, -1, 1, 3])
    assert example_epsilon(same_median, same_median * 1.0) == 0.0


def test_per_example_epsilon_and_f_with_unequal_k() -> None:
    """Three examples, 4 unlearned and 3 retrained models: example 0 separated (ε capped); example 1
    (0 1 2 3 vs 0 1 2) at best FPR 1/3, FNR 1/2: ε = log(1.5 - 3δ); example 2 (0 1 2 1 vs 0 1 2) at
    best FPR 1/3, FNR 1/4 on the other side: ε = log(1 - δ - 1/3) - log(1/2) ~ log(4/3).
    K = min(4, 3) = 3: ε from ceil(log 2) = 1 on scores 0, below 1/2 one point: F = 2/3."""
    unlearned = np.array([[10.0, 0.0, 0.0], [11.0, 1.0, 1.0], [12.0, 2.0, 2.0], [13.0, 3.0, 1.0]])
    retrained = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    eps = per_example_epsilon(unlearned, retrained)
    assert eps[0] == EPSILON_CAP and eps[1] == pytest.approx(math.log(1.5 - 3 * DELTA))
    assert eps[2] == pytest.approx(math.log(4 / 3), abs=1e-4)
    quality = forgetting_quality(unlearned, retrained)
    assert quality.k == 3 and quality.score == pytest.approx(2 / 3)
    assert quality.epsilons.tolist() == eps.tolist()
    assert forgetting_quality(unlearned[:3], retrained, delta=0.5).epsilons[0] == EPSILON_CAP


def test_delta_reaches_every_example() -> None:
    """One crossing value in eight (best rule FPR = FNR = 1/8): ε = log(1 - δ - 1/8) - log(1/8),
    log(7 - 8δ) at the default δ and log 3 at δ = 0.5, through both per-example functions."""
    u = np.array([0.0, 1, 2, 3, 4, 5, 6, 20])[:, None]
    r = np.array([7.0, 8, 9, 10, 11, 12, 13, 3.5])[:, None]
    assert per_example_epsilon(u, r, delta=0.5) == pytest.approx([math.log(3.0)])
    assert forgetting_quality(u, r, delta=0.5).epsilons == pytest.approx([math.log(3.0)])
    assert forgetting_quality(u, r).epsilons == pytest.approx([math.log(7 - 8 * DELTA)])


def test_f_of_no_examples_is_nan_without_a_warning() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not the mean of an empty array ("Mean of empty slice")
        assert math.isnan(forgetting_quality(np.zeros((3, 0)), np.zeros((3, 0))).score)
    empty = forgetting_quality(np.zeros((4, 0)), np.zeros((4, 0)))
    assert math.isnan(empty.score) and empty.epsilons.shape == (0,) and empty.k == 4
    with pytest.raises(ValueError, match="^" + re.escape("need [models, examples] arrays over the same examples; got (4,) and (4, 1)") + "$"):
        per_example_epsilon(np.zeros(4), np.zeros((4, 1)))


def test_points_per_bin_and_the_scored_range() -> None:
    assert BUCKET == 0.5
    # K = 3: ε >= ceil(log 2) = 1 scores 0; ε in [0.5, 1) scores 1/2
    assert example_points(np.array([0.0, 0.5, 0.99, 1.0]), 3).tolist() == [1.0, 0.5, 0.5, 0.0]
    # K = 64: ceil(log 63) = 5
    assert example_points(np.array([4.9, 5.0]), 64).tolist() == [2.0 ** -9, 0.0]
    assert example_points(np.array([0.0]), 2).tolist() == [0.0]  # K = 2: nothing scores
    assert max_scored_epsilon(9) == 3.0  # ceil(log 8) = ceil(2.08)
    assert max_scored_epsilon(1) == 0.0  # defined (no points) below two models, not a log of 0


def test_null_forgetting_quality_is_f_of_two_draws_of_one_gaussian() -> None:
    rng = np.random.default_rng(7)
    expected = forgetting_quality(rng.normal(size=(4, 60)), rng.normal(size=(4, 60))).score
    assert null_forgetting_quality(4, n=60, seed=7) == expected
    assert null_forgetting_quality(4, n=60, seed=8) != expected
    # the defaults: 2,000 simulated examples from seed 0
    rng = np.random.default_rng(0)
    assert null_forgetting_quality(4) == forgetting_quality(rng.normal(size=(4, 2000)), rng.normal(size=(4, 2000))).score


def test_single_threshold_rates_worked_by_hand() -> None:
    """pos = (1, 3), neg = (0, 2), "positive if value >= t" at t = 0, 1, 2, 3: TPR 1, 1, 1/2, 1/2
    (FNR 0, 0, 1/2, 1/2) and FPR 1, 1/2, 1/2, 0 (a value equal to t counts as positive)."""
    fpr, fnr = _single_threshold_rates(np.array([1.0, 3.0]), np.array([0.0, 2.0]))
    assert fpr.tolist() == [1.0, 0.5, 0.5, 0.0]
    assert fnr.tolist() == [0.0, 0.0, 0.5, 0.5]


def _naive_interval_rates(pos: list[float], neg: list[float]) -> list[tuple[float, float]]:
    """The interval family as the module doc states it, in plain loops: every interval [u_i, u_j]
    over the sorted pooled values (i <= j, row by row) whose width u_j - u_i is at most the peakier
    side's range + 2 and whose achievable width (next value out on the right minus next value out
    on the left, ±inf past the ends) exceeds that range - 2; its (FPR, FNR) for "positive inside"."""
    u = sorted(set(pos) | set(neg))
    width = max(pos) - min(pos)
    out = []
    for i in range(len(u)):
        for j in range(i, len(u)):
            lo = u[i - 1] if i > 0 else -math.inf
            hi = u[j + 1] if j + 1 < len(u) else math.inf
            if u[j] - u[i] <= width + INTERVAL_SLACK and hi - lo > width - INTERVAL_SLACK:
                neg_in = sum(u[i] <= v <= u[j] for v in neg) / len(neg)
                pos_in = sum(u[i] <= v <= u[j] for v in pos) / len(pos)
                out.append((neg_in, 1.0 - pos_in))
    return out


def test_interval_rates_follow_the_stated_family() -> None:
    """pos = (0, 10) (range 10), neg = (1, 2, 3, 12, 20): both bounds are met with equality
    somewhere ([0, 12] is exactly 12 = 10 + 2 wide and feasible; [3, 3] has neighbours 2 and 10,
    8 = 10 - 2 apart, and is not), and 20 makes the widest intervals infeasible."""
    pos, neg = [0.0, 10.0], [1.0, 2.0, 3.0, 12.0, 20.0]
    fpr, fnr = _interval_rates(np.array(pos), np.array(neg))
    expected = _naive_interval_rates(pos, neg)
    assert np.allclose(np.column_stack([fpr, fnr]), np.array(expected))
    # by hand: of the 28 intervals, 20 are feasible (per left end 0, 1, 2, 3, 10, 12, 20: 6, 3, 3,
    # 2, 3, 2, 1); [0, 12] holds both positives and 1, 2, 3, 12 of the negatives: FPR 4/5, FNR 0
    assert len(expected) == 20 and (0.8, 0.0) in expected


def test_example_epsilon_reads_any_numeric_dtype_as_float64() -> None:
    """Outputs handed over as int8 (-100 and 100 on each side) are converted before any arithmetic:
    their range 200 overflows int8 (to -56), which would make one side look like a point mass and
    give the cap; read as float64 the two sides are identical and ε = 0."""
    side = np.array([-100, 100], dtype=np.int8)
    assert example_epsilon(side, side.astype(np.float64)) == 0.0
    assert example_epsilon(side.astype(np.float64), side) == 0.0


def test_epsilon_bound_is_quiet_and_computed_in_float64() -> None:
    """log(0) (a rate of 0) and log of a negative number (1 - δ - 1) are expected inputs, not
    warnings; float32 rates are widened first, so FPR = FNR = 1/8 gives log(7 - 8δ) to 1e-12 (in
    float32, 1 - δ - 1/8 would be off by ~1e-8)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = epsilon_bound([0.0, 1.0, 0.5, 0.0], [0.0, 0.5, 1.0, 0.5])
    assert got[0] == math.inf and np.isnan(got[3])
    assert got[1] == 0.0 and got[2] == 0.0  # log(-δ) is NaN on one side, the other is below 0
    eighth = np.array([0.125], dtype=np.float32)
    for fpr, fnr in ((eighth, [0.125]), ([0.125], eighth)):
        value = epsilon_bound(fpr, fnr)
        assert value.dtype == np.float64 and abs(value[0] - math.log(7 - 8 * DELTA)) < 1e-12


def test_permutation_p_value_edges() -> None:
    """One value on a side: a = (0, 1), b = (5): the three splits give |1/2 - 5| = 4.5 (observed),
    |5/2 - 1| = 1.5 and |3 - 0| = 3: p = 1/3. float32 inputs are widened first: A = (.8 .6 .5 .2),
    B = (.3 0 0 0) differ by 0.45, reached by the observed split, by swapping .2 with .3 (0.5) and
    by their mirrors: 4 of 70 (computed in float32, the observed split's own difference rounds
    above itself and p comes out 2/70). The Monte-Carlo branch's default seed is 0."""
    assert permutation_p_value([0.0, 1.0], [5.0]) == pytest.approx(1 / 3)
    assert permutation_p_value([5.0], [0.0, 1.0]) == pytest.approx(1 / 3)
    a32 = np.array([0.8, 0.6, 0.5, 0.2], dtype=np.float32)
    b32 = np.array([0.3, 0.0, 0.0, 0.0], dtype=np.float32)
    assert permutation_p_value(a32, b32) == pytest.approx(4 / 70)
    assert permutation_p_value(b32, a32) == pytest.approx(4 / 70)
    with pytest.raises(ValueError, match="^a permutation test needs values on both sides$"):
        permutation_p_value([1.0], [])
    a = np.linspace(0.0, 1.0, 10)
    assert permutation_p_value(a, a + 0.2) == permutation_p_value(a, a + 0.2, seed=0)


def test_the_side_with_the_larger_median_is_the_single_thresholds_positive() -> None:
    """u = (0, -1, 1, -1, -1) (median -1), r = (4, 8, -7, 1, 8) (median 4): "retrained if >= 1"
    has FNR 1/5 (the -7) and FPR 1/5 (u's 1): ε = log(1 - δ - 1/5) - log(1/5) = log(4 - 5δ). No
    interval around the peakier u does as well, and "unlearned if >= t" (the wrong side taken as
    positive) only reaches log 2."""
    u = np.array([0.0, -1.0, 1.0, -1.0, -1.0])
    r = np.array([4.0, 8.0, -7.0, 1.0, 8.0])
    assert example_epsilon(u, r) == pytest.approx(math.log(4 - 5 * DELTA))
    assert example_epsilon(r, u) == pytest.approx(math.log(4 - 5 * DELTA))


# -- stored studies and the study's text ---------------------------------------------------------
def _result(method: str = "del", k: int = 4, seed: int = 0, **over) -> dict:
    """A study result with just what storing, finding and printing read."""
    cell = {"mean": 0.25, "std": 0.125, "values": [0.25] * k}
    return {"method": method, "forget": "class:3", "k": k, "dataset": "digits", "data_fingerprint": "fp",
            "model_digest": "md", "seed": seed, "noise_floor": {"avg_gap": 1.5, "forget_acc": 0.0},
            "verdict": {"forget_acc": "within", "test_acc": "outside"}, "retrain": {"forget_acc": cell, "test_acc": cell},
            "unlearned": {"forget_acc": cell, "test_acc": {"mean": 0.5, "std": 0.0, "values": [0.5] * k}},
            "gap_to_retrain": {"mean": 2.25}, "forgetting_quality": 0.125, "forgetting_quality_null": 0.1875,
            "verdict_overall": "outside", "time_s": 12.4, **over}


def test_a_stored_study_keeps_its_name_json_and_scores(tmp_path) -> None:
    """Stored under its key with a readable name; its scores come back as stored; the studies of a
    request (any method) are listed newest first and the newest gives the noise floor."""
    from unlearn_core.workspace.store import Workspace
    from unlearn_core.workspace.studies import find_study, load_scores, save_study, stored_noise_floor, studies_for

    workspace = Workspace(tmp_path / "ws")
    scores = {"unlearned": np.array([[1.5, -2.0], [0.25, 3.0]]), "retrain": np.array([[0.5, 0.5], [1.0, -1.0]]),
              "forget_idx": np.array([7, 3], dtype=np.int64)}
    entry = save_study(workspace, _result(), scores, "key-1")
    assert entry.kind == "study" and entry.name == "study del | class:3 | K=4" and entry.dataset == "digits"
    assert entry.key == "key-1" and entry.info["verdict"] == {"forget_acc": "within", "test_acc": "outside"}
    loaded = load_scores(find_study(workspace, "key-1"))
    assert set(loaded) == {"unlearned", "retrain", "forget_idx"}
    assert loaded["unlearned"].tolist() == [[1.5, -2.0], [0.25, 3.0]] and loaded["forget_idx"].tolist() == [7, 3]
    assert loaded["retrain"].dtype == np.float64 and loaded["forget_idx"].dtype == np.int64
    assert find_study(workspace, "key-2") is None
    request = {"dataset": "digits", "data_fingerprint": "fp", "model_digest": "md", "forget": "class:3", "seed": 0}
    newer = save_study(workspace, _result("salun", k=8, noise_floor={"avg_gap": 0.5}), scores, "key-2")
    save_study(workspace, _result(seed=1), scores, "key-3")  # another seed: another request
    assert [e.id for e in studies_for(workspace, request)] == [newer.id, entry.id]  # newest first
    assert stored_noise_floor(workspace, request) == {"avg_gap": 0.5, "k": 8, "study_id": newer.id}
    assert stored_noise_floor(workspace, {**request, "seed": 2}) is None


def test_study_text_exact_lines() -> None:
    """Each metric's label padded to 30, the mean ± std cells right-aligned in 13 characters."""
    from unlearn_core.study.text import study_text

    lines = study_text(_result()).splitlines()
    assert lines[0] == "del forgetting class:3 on digits, K = 4 seeds per side"
    assert lines[1] == "  Forget accuracy                retrain   25.0 ± 12.5   unlearned   25.0 ± 12.5   within"
    assert lines[2] == "  Test accuracy                  retrain   25.0 ± 12.5   unlearned    50.0 ± 0.0   outside"
    assert lines[3] == "  average gap to a retrained model 2.25 pts (retraining vs retraining: 1.50 pts)"
    assert lines[4] == "  forgetting quality F = 0.125 (retraining vs retraining at this K: 0.188)"
    assert lines[5] == "  verdict: outside retraining's spread; 12 s" and len(lines) == 6
    assert study_text(_result(reused=True)).splitlines()[0].endswith("K = 4 seeds per side (stored study)")
    assert "forgetting quality" not in study_text(_result(forgetting_quality=None))
