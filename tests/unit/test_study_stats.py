"""Known answers for the seed study's statistics: per-example ε and F (the NeurIPS 2023 challenge's
forgetting quality), the permutation-test verdict and its false-alarm rate, the noise floor."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from unlearn_core.bench.tasks import BenchTask, TaskResult
from unlearn_core.metrics import avg_gap_informative, scaled_confidence
from unlearn_core.metrics.epsilon import (
    EPSILON_CAP,
    epsilon_bound,
    example_epsilon,
    example_points,
    forgetting_quality,
    max_scored_epsilon,
    null_forgetting_quality,
    per_example_epsilon,
)
from unlearn_core.metrics.verdict import (
    NO_SIGNAL,
    OUTSIDE,
    WITHIN,
    false_alarm_rate,
    judge,
    metric_verdict,
    noise_floor,
    overall,
    pairwise_gaps,
    permutation_p_value,
    spread,
)
from unlearn_core.study.seed_study import check_k, method_seeds, plan_study, summarize_study

# -- scaled confidence and ε ---------------------------------------------------------------


def test_scaled_confidence_is_the_log_odds_of_the_true_label() -> None:
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0], [30.0, -30.0, 0.0]])
    y = torch.tensor([0, 2, 1])
    p = torch.softmax(logits.double(), 1)[torch.arange(3), y].numpy()
    got = scaled_confidence(logits, y)
    assert got[:2] == pytest.approx(np.log(p[:2] / (1 - p[:2])))
    assert got[1] == pytest.approx(math.log(0.5))  # p = 1/3: log(1/3 / 2/3)
    assert got[2] == pytest.approx(-60.0, abs=1e-9)  # p_y = e^-60 / (e^30 + ...): finite, not -inf


def test_epsilon_bound_of_one_rule() -> None:
    # FPR = FNR = 1/8: log(1 - δ - 1/8) - log(1/8) = log(7 - 8δ)
    assert epsilon_bound(np.array([0.125]), np.array([0.125]))[0] == pytest.approx(math.log(7 - 8e-5))
    # a rule no better than chance gives 0, never a negative ε
    assert epsilon_bound(np.array([0.5]), np.array([0.5]))[0] == 0.0
    both_zero, one_zero = epsilon_bound(np.array([0.0, 0.0]), np.array([0.0, 0.25]))
    assert both_zero == math.inf and math.isnan(one_zero)  # separation; a discarded rule
    # asymmetric: FPR 0.25, FNR 0.5 -> max(log(0.75 - δ) - log 0.5, log(0.5 - δ) - log 0.25) = log 2
    assert epsilon_bound(np.array([0.25]), np.array([0.5]))[0] == pytest.approx(math.log(2), abs=1e-4)


def test_example_epsilon_known_answers() -> None:
    same = np.array([0.0, 1.0, 2.0, 3.0])
    assert example_epsilon(same, same.copy()) == 0.0  # identical outputs: no rule beats chance
    assert example_epsilon(np.array([0.0, 1, 2, 3]), np.array([10.0, 11, 12, 13])) == EPSILON_CAP  # separable
    assert example_epsilon(np.full(4, 5.0), np.array([0.0, 4, 8, 12])) == EPSILON_CAP  # a point mass
    assert example_epsilon(np.full(4, 5.0), np.full(4, 5.0)) == 0.0
    assert example_epsilon(np.full(4, 5.0), np.full(4, 6.0)) == EPSILON_CAP
    # one value of eight crosses over: the best single threshold has FPR = FNR = 1/8
    u = np.array([0.0, 1, 2, 3, 4, 5, 6, 20])
    r = np.array([7.0, 8, 9, 10, 11, 12, 13, 3.5])
    assert example_epsilon(u, r) == pytest.approx(math.log(7 - 8e-5))


def test_the_interval_rule_catches_a_narrow_side_inside_a_wide_one() -> None:
    wide = np.array([-10.0, -8, -6, 6, 8, 10, -7, 7])
    narrow = np.array([-1.0, -0.5, 0, 0.5, 1, -0.8, 0.8, 0.2])  # same median, inside the gap
    # no single threshold separates them, the interval [-1, 1] does: ε = ∞, capped
    assert example_epsilon(narrow, wide) == EPSILON_CAP


def test_example_points_and_the_largest_scored_epsilon() -> None:
    assert max_scored_epsilon(8) == 2.0 and max_scored_epsilon(4) == 2.0 and max_scored_epsilon(2) == 0.0
    assert max_scored_epsilon(3) == 1.0 and max_scored_epsilon(64) == 5.0
    points = example_points(np.array([0.0, 0.49, 0.5, 1.2, 1.99, 2.0, 50.0]), 8)
    assert points.tolist() == [1.0, 1.0, 0.5, 0.25, 0.125, 0.0, 0.0]


def test_forgetting_quality_separates_one_distribution_from_two() -> None:
    rng = np.random.default_rng(0)
    k, n = 8, 300
    retrained = rng.normal(0, 1, (k, n))
    like = rng.normal(0, 1, (k, n))
    shifted = rng.normal(3, 1, (k, n))
    f_like = forgetting_quality(like, retrained).score
    f_near = forgetting_quality(rng.normal(1, 1, (k, n)), retrained).score
    f_shifted = forgetting_quality(shifted, retrained).score
    # measured: 0.184 for one distribution (the threshold rules overfit 16 values), 0.148 one sigma
    # apart, 0.053 three sigma apart
    assert abs(f_like - null_forgetting_quality(k)) < 0.03
    assert f_like > f_near + 0.02 > f_shifted + 0.06
    assert f_shifted < 0.06
    assert forgetting_quality(np.tile(retrained[:1], (k, 1)), retrained).score == 0.0  # one model K times
    assert per_example_epsilon(like, retrained).shape == (n,)


def test_epsilon_refuses_what_it_cannot_judge() -> None:
    with pytest.raises(ValueError, match="at least 2 models per side"):
        example_epsilon(np.array([1.0]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="same examples"):
        per_example_epsilon(np.zeros((4, 3)), np.zeros((4, 2)))


# -- the verdict ---------------------------------------------------------------------------


def test_permutation_p_value_known_answers() -> None:
    assert permutation_p_value([0, 0, 0, 0], [1, 1, 1, 1]) == pytest.approx(2 / 70)
    assert permutation_p_value([1, 1, 1, 1], [1, 1, 1, 1]) == 1.0
    # 1 2 3 4 vs 5 6 7 8: only the observed split and its mirror reach |diff| = 4
    assert permutation_p_value([1, 2, 3, 4], [5, 6, 7, 8]) == pytest.approx(2 / 70)
    with pytest.raises(ValueError, match="both sides"):
        permutation_p_value([], [1.0])


def test_false_alarm_rate_of_the_verdict_at_k8() -> None:
    assert false_alarm_rate(8) == pytest.approx(642 / 12870)
    assert false_alarm_rate(3) == 0.0  # 2 / C(6, 3) = 0.1 > 0.05: never rejects
    rng = np.random.default_rng(1)
    draws = 1500
    alarms = sum(metric_verdict(rng.normal(0.9, 0.02, 8), rng.normal(0.9, 0.02, 8), min_gap=0.0) == OUTSIDE
                 for _ in range(draws))
    # binomial(1500, 0.0499): mean 75, sd 8.4; [50, 100] holds 99.7% of outcomes (measured: 78)
    assert 50 <= alarms <= 100
    shifted = sum(metric_verdict(rng.normal(0.9, 0.02, 8), rng.normal(0.94, 0.02, 8), min_gap=0.0) == OUTSIDE
                  for _ in range(200))
    assert shifted > 150  # a 2-sigma shift is found most of the time (power about 0.9)


def test_metric_verdict_rules() -> None:
    assert metric_verdict([1.0] * 8, [0.0] * 8) == OUTSIDE
    assert metric_verdict([0.0] * 8, [0.0] * 8) == WITHIN
    # consistent but under half a point: not a miss
    assert metric_verdict([0.998] * 8, [1.0] * 8) == WITHIN
    assert metric_verdict([0.99] * 8, [1.0] * 8) == OUTSIDE
    # a value inside retraining's spread
    assert metric_verdict([0.5] * 8, [0.1, 0.9, 0.2, 0.8, 0.3, 0.7, 0.4, 0.6]) == WITHIN
    assert metric_verdict([1.0] * 8, [0.0] * 8, attack_acc=[0.52] * 8) == NO_SIGNAL
    assert metric_verdict([1.0] * 8, [0.0] * 8, attack_acc=[0.60] * 8) == OUTSIDE
    assert metric_verdict([None] * 8, [None] * 8) is None
    assert metric_verdict([0.5, None, float("nan"), 0.5], [0.5] * 4) == WITHIN


def test_judge_noise_floor_and_spread() -> None:
    retrained = [{"forget_acc": 0.0, "retain_acc": 1.0, "test_acc": 0.9, "mia_efficacy": 1.0, "mia_attack_acc": 0.5},
                 {"forget_acc": 0.0, "retain_acc": 1.0, "test_acc": 0.8, "mia_efficacy": 0.0, "mia_attack_acc": 0.5}]
    unlearned = [{"forget_acc": 1.0, "retain_acc": 1.0, "test_acc": 0.9, "mia_efficacy": 0.5}] * 2
    floor = noise_floor(retrained, ("forget_acc", "test_acc", "mia_efficacy"))
    assert floor["avg_gap"] == pytest.approx(100 * (0.1 + 1.0) / 4)  # one pair: |Δtest| 0.1, |ΔMIA| 1
    assert floor["test_acc"] == pytest.approx(0.05) and floor["forget_acc"] == 0.0
    assert floor["mia_efficacy"] == pytest.approx(0.5)
    verdicts = judge(unlearned, retrained, ("forget_acc", "mia_efficacy", "forget_test_acc"))
    assert verdicts == {"forget_acc": WITHIN, "mia_efficacy": NO_SIGNAL}  # K = 2 never rejects; no slice metric
    assert overall({"a": WITHIN, "b": NO_SIGNAL}) == WITHIN and overall({"a": WITHIN, "b": OUTSIDE}) == OUTSIDE
    gaps = pairwise_gaps(unlearned, retrained)
    assert gaps.shape == (2, 2) and gaps[0, 0] == pytest.approx(100 * (1.0 + 0.5) / 4)
    cell = spread([0.2, None, 0.4])
    assert cell["mean"] == pytest.approx(0.3) and cell["std"] == pytest.approx(0.1)
    assert cell["values"] == [0.2, None, 0.4]
    assert spread([None])["mean"] is None


def test_avg_gap_informative_drops_mia_at_chance() -> None:
    m = {"forget_acc": 0.1, "retain_acc": 0.9, "test_acc": 0.8, "mia_efficacy": 0.9, "mia_attack_acc": 0.52}
    r = {"forget_acc": 0.1, "retain_acc": 0.9, "test_acc": 0.8, "mia_efficacy": 0.1, "mia_attack_acc": 0.70}
    assert avg_gap_informative(m, r) == 0.0  # MIA-efficacy's 80-point gap is noise: dropped
    assert avg_gap_informative({**m, "mia_attack_acc": 0.70}, r) == pytest.approx(20.0)
    assert avg_gap_informative({**m, "mia_attack_acc": None}, r) == pytest.approx(20.0)


# -- the study's plan and summary ----------------------------------------------------------


def _member(values: dict, scores: list[float]) -> dict:
    return {"values": values, "forget_scores": scores}


def _results(unlearned: list[dict], retrained: list[dict], failed: int = 0) -> list[TaskResult]:
    out = [TaskResult(BenchTask(s), {"member": m}, None, 1.0) for s, m in enumerate(retrained)]
    out += [TaskResult(BenchTask(s, "m", "m"), {"member": m, "run_id": f"r{s}", "reused": s == 0}, None, 1.0)
            for s, m in enumerate(unlearned)]
    out += [TaskResult(BenchTask(99, "m", "m"), None, "ValueError: boom", 0.0)] * failed
    return out


def test_summarize_study_on_known_members() -> None:
    rng = np.random.default_rng(0)
    base = {"retain_acc": 1.0, "test_acc": 0.9, "forget_test_acc": 0.0, "mia_efficacy": 1.0, "mia_attack_acc": 0.6}
    retrained = [_member({**base, "forget_acc": 0.0}, list(rng.normal(-5, 1, 3))) for _ in range(8)]
    original = _member({**base, "forget_acc": 1.0, "forget_test_acc": 1.0, "mia_efficacy": 0.0}, [6.0, 7.0, 8.0])
    result, scores = summarize_study(_results([original] * 8, retrained, failed=1), np.array([4, 9, 30]))
    assert result["verdict"]["forget_acc"] == OUTSIDE and result["verdict"]["retain_acc"] == WITHIN
    assert result["verdict_overall"] == OUTSIDE
    assert result["forgetting_quality"] == 0.0  # one model eight times: every ε is capped
    assert [e["index"] for e in result["per_example"]] == [4, 9, 30]
    assert all(e["epsilon"] == EPSILON_CAP for e in result["per_example"])
    assert result["retrain"]["forget_acc"] == {"mean": 0.0, "std": 0.0, "values": [0.0] * 8}
    assert result["noise_floor"]["avg_gap"] == 0.0  # the retrained figures are identical
    assert result["gap_to_retrain"]["mean"] == pytest.approx(100 * (1.0 + 1.0) / 4)
    assert result["verdict_rule"]["false_alarm_rate"] == pytest.approx(642 / 12870)
    assert result["members_reused"] == 1 and result["run_ids"] == [f"r{s}" for s in range(8)]
    assert result["failed"] == [{"member": "unlearned", "seed": 99, "error": "ValueError: boom"}]
    assert result["competition_score"] == 0.0
    assert scores["unlearned"].shape == (8, 3) and scores["forget_idx"].tolist() == [4, 9, 30]


def test_summarize_study_needs_two_members_a_side() -> None:
    member = _member({"forget_acc": 0.0}, [0.0])
    with pytest.raises(ValueError, match="at least two retrained and two unlearned members; 1 failed"):
        summarize_study(_results([member], [member, member], failed=1), np.array([0]))


def test_plan_and_seeds() -> None:
    assert method_seeds("finetune", 3) == [0, 1, 2]
    assert method_seeds("retrain", 3) == [3, 4, 5]  # retraining as the method: independent seeds
    tasks = plan_study("finetune", None, 4)
    assert [t.is_oracle for t in tasks] == [True] * 4 + [False] * 4
    assert [t.seed for t in tasks] == [0, 1, 2, 3, 0, 1, 2, 3]
    assert check_k(8) == 8
    for bad in (3, 65, True, 2.5):
        with pytest.raises(ValueError, match="--seeds must be a whole number from 4 to 64"):
            check_k(bad)


def test_the_benchmark_floor_is_the_mean_gap_between_two_seeds_oracles() -> None:
    from unlearn_core.bench.sweep import retrain_floor

    a = {"forget_acc": 0.0, "retain_acc": 1.0, "test_acc": 0.9, "mia_efficacy": 1.0}
    b = {**a, "test_acc": 0.8}
    c = {**a, "mia_efficacy": 0.6}
    runs = [{"seed": 0, "retrain": a}, {"seed": 0, "retrain": c},  # a seed's oracle: its first run's
            {"seed": 1, "retrain": b}, {"seed": 2, "retrain": c}]
    # pairs (a, b) 2.5, (a, c) 10, (b, c) 12.5 points
    assert retrain_floor(runs) == pytest.approx((2.5 + 10 + 12.5) / 3)
    assert retrain_floor(runs[:2]) is None  # one seed: no pair


def test_competition_score_is_f_times_the_utility_ratios() -> None:
    rng = np.random.default_rng(2)
    retrained = [_member({"forget_acc": 0.0, "retain_acc": 1.0, "test_acc": 0.8, "mia_efficacy": 0.5}, list(rng.normal(0, 1, 40)))
                 for _ in range(8)]
    unlearned = [_member({"forget_acc": 0.0, "retain_acc": 0.5, "test_acc": 0.6, "mia_efficacy": 0.5}, list(rng.normal(0, 1, 40)))
                 for _ in range(8)]
    result, _ = summarize_study(_results(unlearned, retrained), np.arange(40))
    assert result["forgetting_quality"] > 0
    # (RA_U / RA_R) x (TA_U / TA_R) = 0.5 x 0.75
    assert result["competition_score"] == pytest.approx(result["forgetting_quality"] * 0.375)
    no_test = [_member({"forget_acc": 0.0, "retain_acc": 1.0, "test_acc": None, "mia_efficacy": 0.5}, [0.0, 1.0]) for _ in range(4)]
    assert summarize_study(_results(no_test, no_test), np.arange(2))[0]["competition_score"] is None
