"""Known-answer tests for unlearn_core.metrics, plus evaluate_model on the digits model."""

from __future__ import annotations

import copy
import dataclasses
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch import nn

from unlearn_core.forget import UnlearnData, resolve
from unlearn_core.metrics import (
    HEADLINE_KEYS,
    ModelEval,
    at_chance,
    avg_gap,
    backdoor_asr,
    compare_to_retrain,
    evaluate_model,
    js_divergence,
    js_per_sample,
    kl_divergence,
    loss_threshold_mia,
    mia_efficacy,
    params_changed_frac,
    svc_mia,
    true_label_confidence,
    tug_of_war,
)

LN2 = math.log(2)


# --- membership inference -------------------------------------------------------------------


def test_loss_mia_on_identical_distributions_is_chance():
    rng = np.random.default_rng(0)
    out = loss_threshold_mia(rng.exponential(size=3000), rng.exponential(size=3000))
    assert abs(out["auc"] - 0.5) < 0.03
    assert 0.5 <= out["best_threshold_acc"] < 0.55


def test_loss_mia_on_separated_losses_is_perfect():
    out = loss_threshold_mia(np.full(50, 0.01) + np.arange(50) * 1e-4, np.full(40, 2.0) + np.arange(40) * 1e-3)
    assert out["auc"] == pytest.approx(1.0)
    assert out["best_threshold_acc"] == pytest.approx(1.0)
    reversed_ = loss_threshold_mia(np.full(10, 3.0), np.full(10, 0.1))
    assert reversed_["auc"] == pytest.approx(0.0)


def test_mia_efficacy_on_a_separable_case():
    rng = np.random.default_rng(1)
    conf_retain = rng.uniform(0.9, 1.0, size=3000)  # members: confident
    conf_test = rng.uniform(0.0, 0.5, size=500)  # non-members: unsure
    like_test = rng.uniform(0.0, 0.5, size=200)
    like_retain = rng.uniform(0.9, 1.0, size=200)
    assert mia_efficacy(conf_retain, conf_test, like_test) > 0.95
    assert mia_efficacy(conf_retain, conf_test, like_retain) < 0.05
    result = svc_mia(conf_retain, conf_test, like_test, max_per_side=300)
    assert result.n_per_side == 300  # balanced: min(3000, 500, cap)
    assert result.forget_member_prob.shape == (200,)
    assert result.forget_member_prob.mean() < 0.1  # test-like samples: low membership probability
    members = svc_mia(conf_retain, conf_test, like_retain, max_per_side=300)
    assert members.forget_member_prob.mean() > 0.9 and members.efficacy < 0.05
    # seeded: same answer twice
    assert mia_efficacy(conf_retain, conf_test, like_test, seed=3) == mia_efficacy(
        conf_retain, conf_test, like_test, seed=3
    )


def test_mia_attack_accuracy_separates_a_real_attack_from_one_at_chance():
    rng = np.random.default_rng(2)
    separable = svc_mia(rng.uniform(0.9, 1.0, 400), rng.uniform(0.0, 0.5, 400), rng.uniform(0, 1, 50))
    assert separable.attack_acc == 1.0 and not at_chance(separable.attack_acc)
    # near-perfect models: every confidence is 1, members and non-members are the same points
    same = svc_mia(np.ones(300), np.ones(300), np.ones(40))
    assert same.attack_acc == 0.5 and at_chance(same.attack_acc)
    assert at_chance(0.549) and not at_chance(0.55) and not at_chance(None) and not at_chance(float("nan"))
    empty_forget = svc_mia(np.ones(30), np.zeros(30), np.empty(0))
    assert empty_forget.attack_acc == 1.0  # reported even without forget samples


def test_mia_rejects_empty_shadow_sets():
    with pytest.raises(ValueError, match="members"):
        mia_efficacy(np.empty(0), np.ones(5), np.ones(3))
    assert math.isnan(mia_efficacy(np.ones(5), np.zeros(5), np.empty(0)))


def test_true_label_confidence():
    logits = torch.tensor([[0.0, 0.0], [10.0, -10.0]])
    conf = true_label_confidence(logits, torch.tensor([1, 0]))
    assert conf == pytest.approx([0.5, 1.0], abs=1e-8)


# --- divergences ----------------------------------------------------------------------------


def test_js_of_a_model_to_itself_is_zero():
    logits = torch.randn(64, 10, generator=torch.Generator().manual_seed(0))
    assert js_divergence(logits, logits) == pytest.approx(0.0, abs=1e-12)
    assert kl_divergence(logits, logits) == pytest.approx(0.0, abs=1e-12)


def test_js_of_one_hots_of_different_classes_is_ln2():
    inf = float("inf")
    p = torch.tensor([[0.0, -inf, -inf], [100.0, 0.0, 0.0]])
    q = torch.tensor([[-inf, 0.0, -inf], [0.0, 0.0, 100.0]])
    assert js_divergence(p, q) == pytest.approx(LN2, abs=1e-9)
    assert js_divergence(q, p) == pytest.approx(LN2, abs=1e-9)


def test_js_known_value_and_bounds():
    # p = (1, 0), q = (1/2, 1/2): JS = 1/2 KL(p||m) + 1/2 KL(q||m), m = (3/4, 1/4)
    p = torch.tensor([[0.0, -float("inf")]])
    q = torch.tensor([[0.0, 0.0]])
    expected = 0.5 * math.log(4 / 3) + 0.5 * (0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25))
    assert js_divergence(p, q) == pytest.approx(expected, abs=1e-12)
    a = torch.randn(100, 5, generator=torch.Generator().manual_seed(1)) * 5
    b = torch.randn(100, 5, generator=torch.Generator().manual_seed(2)) * 5
    per = js_per_sample(a, b)
    assert torch.all(per >= 0) and torch.all(per <= LN2 + 1e-12)
    with pytest.raises(ValueError, match="same shape"):
        js_divergence(a, b[:10])


def test_kl_known_value_is_per_sample_then_averaged_and_asymmetric():
    # p = (1/2, 1/2), q = (1/4, 3/4): KL(p||q) = 1/2 ln 2 + 1/2 ln(2/3); KL(q||p) = 1/4 ln(1/2) + 3/4 ln(3/2)
    p = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    q = torch.tensor([[0.0, math.log(3)]], dtype=torch.float64)
    kl_pq = 0.5 * math.log(2) + 0.5 * math.log(2 / 3)
    assert kl_divergence(p, q) == pytest.approx(kl_pq, abs=1e-12)  # one sample is a value, not "no samples"
    assert kl_divergence(q, p) == pytest.approx(0.25 * math.log(0.5) + 0.75 * math.log(1.5), abs=1e-12)
    # a second sample with identical predictions: summed over classes, averaged over the two samples
    assert kl_divergence(torch.cat([p, q]), torch.cat([q, q])) == pytest.approx(kl_pq / 2, abs=1e-12)
    assert math.isnan(kl_divergence(p[:0], q[:0])) and math.isnan(js_divergence(p[:0], q[:0]))
    with pytest.raises(ValueError, match="same shape"):
        kl_divergence(p, torch.cat([q, q]))
    for a, b in ((p[:0], q), (p, q[:0])):  # one side empty is a mismatch, not "no samples"
        with pytest.raises(ValueError, match="same shape"):
            js_divergence(a, b)


# --- scores ---------------------------------------------------------------------------------


M = {"forget_acc": 0.5, "mia_efficacy": 0.4, "retain_acc": 0.9, "test_acc": 0.8}
M_R = {"forget_acc": 0.1, "mia_efficacy": 0.8, "retain_acc": 0.95, "test_acc": 0.85}


def test_avg_gap_and_tug_of_war():
    assert avg_gap(M, M) == 0.0
    assert tug_of_war(M, M) == 1.0
    assert avg_gap(M, M_R) == pytest.approx((40 + 40 + 5 + 5) / 4)  # points
    assert avg_gap(M_R, M) == pytest.approx(avg_gap(M, M_R))
    assert tug_of_war(M, M_R) == pytest.approx(0.6 * 0.95 * 0.95)


def test_params_changed_frac_counts_entries_not_buffers():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))
    n_params = sum(p.numel() for p in model.parameters())
    other = copy.deepcopy(model)
    assert params_changed_frac(model, other) == 0.0
    with torch.no_grad():
        other[0].weight[1, 2] += 0.5
        other[1].running_mean += 1.0  # a buffer: not counted
    assert params_changed_frac(model, other) == pytest.approx(1 / n_params)
    assert params_changed_frac(model, other, atol=1.0) == 0.0
    with pytest.raises(ValueError, match="different parameters"):
        params_changed_frac(model, nn.Linear(4, 3))


def test_backdoor_asr():
    # predictions: 0, 2, 2, 1 ; target 2
    logits = torch.tensor([[5.0, 0, 0], [0, 0, 5.0], [0, 1.0, 3.0], [0, 4.0, 0]])
    assert backdoor_asr(logits, 2) == pytest.approx(0.5)
    # with labels: the target-class image (index 1) is dropped -> 1 of 3
    assert backdoor_asr(logits, 2, y=torch.tensor([0, 2, 1, 1])) == pytest.approx(1 / 3)
    assert math.isnan(backdoor_asr(logits[:0], 2))


# --- evaluate_model on the digits model ------------------------------------------------------


def _acc(model, x, y) -> float:
    with torch.no_grad():
        return float((model.eval()(x).argmax(dim=1) == y).float().mean())


def test_evaluate_model_class_forget(digits, shipped_digits, cpu):
    model, _ = shipped_digits
    data = UnlearnData(digits, resolve("class:3", digits))
    ev = evaluate_model(model, data, device=cpu, seed=0)
    head = ev.headline()
    assert tuple(head) == HEADLINE_KEYS
    # every accuracy recomputed by hand on the right slice
    f, r = torch.as_tensor(data.forget.forget_idx), torch.as_tensor(data.forget.retain_idx)
    tf = torch.as_tensor(data.forget.test_forget_idx)
    tr = torch.as_tensor(data.forget.test_retain_idx(len(digits.test)))
    assert head["forget_acc"] == pytest.approx(_acc(model, digits.train.x[f], digits.train.y[f]))
    assert head["retain_acc"] == pytest.approx(_acc(model, digits.train.x[r], digits.train.y[r]))
    assert head["test_acc"] == pytest.approx(_acc(model, digits.test.x[tr], digits.test.y[tr]))
    assert head["forget_test_acc"] == pytest.approx(_acc(model, digits.test.x[tf], digits.test.y[tf]))
    assert head["forget_test_acc"] > 0.9  # the original model still knows class 3
    assert head["mia_efficacy"] < 0.1  # ... and its training 3s look like members
    assert ev.forget_logits.shape == (data.forget.n_forget, digits.num_classes)
    assert ev.test_logits.shape == (len(digits.test), digits.num_classes)
    assert len(ev.per_class_test_acc) == digits.num_classes
    assert ev.per_class_test_acc[3] == pytest.approx(ev.forget_test_acc)
    assert set(ev.mia_scores) >= {"forget", "retain", "test"}
    assert ev.backdoor_asr is None
    row = ev.to_dict()
    json.dumps(row)  # JSON-friendly
    assert {"test_acc_all", "per_class_test_acc", "loss_mia_auc", "backdoor_asr"} <= set(row)
    assert row["per_class_test_acc"] == pytest.approx(ev.per_class_test_acc) and row["per_class_test_acc"][3] > 0.9
    n_test = len(digits.test)
    n_slice = len(data.forget.test_forget_idx)
    mixed = (ev.test_acc * (n_test - n_slice) + ev.forget_test_acc * n_slice) / n_test
    assert row["test_acc_all"] == pytest.approx(mixed)

    same = compare_to_retrain(ev, ev)
    assert same["avg_gap"] == 0.0 and same["tug_of_war"] == 1.0
    assert same["js_forget"] == pytest.approx(0.0, abs=1e-12) and same["js_test"] == pytest.approx(0.0, abs=1e-12)


def _loss_auc_by_hand(model, members_x, members_y, nonmembers_x, nonmembers_y) -> float:
    """ROC AUC of -CE with members labelled 1, computed without unlearn_core.metrics."""
    with torch.no_grad():
        lm = F.cross_entropy(model.eval()(members_x).double(), members_y, reduction="none")
        ln = F.cross_entropy(model(nonmembers_x).double(), nonmembers_y, reduction="none")
    labels = np.r_[np.ones(len(lm)), np.zeros(len(ln))]
    return float(roc_auc_score(labels, -np.r_[lm.numpy(), ln.numpy()]))


def test_mia_end_to_end_original_looks_member_retrained_looks_unseen(
    digits, shipped_digits, shipped_digits_retrained_class3, cpu
):
    """On the shipped digits model, class 3 (its training data) looks like members: MIA-efficacy near 0.
    A model retrained without class 3 makes them look unseen: near 1. The loss-threshold AUC (D_f as
    members vs the test 3s) is ordered the same way and equals a hand computation. Swapping the attack's
    members (retain) and non-members (test) inside the evaluation turns both verdicts around."""
    data = UnlearnData(digits, resolve("class:3", digits))
    original = evaluate_model(shipped_digits[0], data, device=cpu, seed=0)
    retrained = evaluate_model(shipped_digits_retrained_class3, data, device=cpu, seed=0)
    assert original.mia_efficacy < 0.05
    assert retrained.mia_efficacy > 0.95
    assert retrained.forget_acc == 0.0 and retrained.forget_test_acc == 0.0
    assert original.loss_mia_auc > retrained.loss_mia_auc
    f, tf = torch.as_tensor(data.forget.forget_idx), torch.as_tensor(data.forget.test_forget_idx)
    for model, ev in ((shipped_digits[0], original), (shipped_digits_retrained_class3, retrained)):
        expected = _loss_auc_by_hand(model, digits.train.x[f], digits.train.y[f], digits.test.x[tf], digits.test.y[tf])
        assert ev.loss_mia_auc == pytest.approx(expected, abs=1e-9)
    # the attack's inputs are the confidences of the right samples
    assert original.mia_scores["forget"] == pytest.approx(true_label_confidence(original.forget_logits, digits.train.y[f]))
    assert original.mia_scores["test"] == pytest.approx(true_label_confidence(original.test_logits, digits.test.y))


def test_evaluate_model_samples_forget_and_backdoor_split(digits, shipped_digits, cpu):
    model, _ = shipped_digits
    # the "triggered" split holds every test image, zeros included: the attack rate counts the other classes only
    with_bd = dataclasses.replace(digits, extras={"backdoor_test": digits.test}, backdoor_target=0)
    data = UnlearnData(with_bd, resolve("random:0.1", with_bd, seed=0))
    ev = evaluate_model(model, data, device=cpu)
    assert ev.forget_test_acc is None and ev.headline()["forget_test_acc"] is None
    assert ev.test_acc == ev.test_acc_all
    # untriggered images of other classes: the clean model rarely says "0" (counting the zeros would give ~10%)
    non_zero = digits.test.y != 0
    with torch.no_grad():
        says_zero = model.eval()(digits.test.x[non_zero]).argmax(1) == 0
    assert ev.backdoor_asr == pytest.approx(float(says_zero.float().mean())) and ev.backdoor_asr < 0.05
    # a backdoor split without a target class, or a target without a split: no attack rate, no crash
    no_target = dataclasses.replace(digits, extras={"backdoor_test": digits.test}, backdoor_target=None)
    no_split = dataclasses.replace(digits, extras={}, backdoor_target=0)
    for other in (no_target, no_split):
        assert evaluate_model(model, UnlearnData(other, data.forget), device=cpu).backdoor_asr is None
    f = torch.as_tensor(data.forget.forget_idx)  # no test counterpart: non-members are the whole test set
    expected = _loss_auc_by_hand(model, digits.train.x[f], digits.train.y[f], digits.test.x, digits.test.y)
    assert ev.loss_mia_auc == pytest.approx(expected, abs=1e-9)
    json.dumps(ev.to_dict())


def _eval(forget_logits: torch.Tensor, test_logits: torch.Tensor, **values: float) -> ModelEval:
    return ModelEval(values=values, per_class_test_acc=[], forget_logits=forget_logits, test_logits=test_logits,
                     mia_scores={})


def test_compare_to_retrain_known_gaps_and_refuses_different_forget_sets():
    inf = float("inf")
    one_hot_0, one_hot_1 = torch.tensor([[0.0, -inf]]), torch.tensor([[-inf, 0.0]])
    unlearned = _eval(one_hot_0.repeat(2, 1), torch.cat([one_hot_0, one_hot_1]), **M)
    retrain = _eval(one_hot_1.repeat(2, 1), torch.cat([one_hot_0, one_hot_0]), **M_R)
    gaps = compare_to_retrain(unlearned, retrain)
    assert gaps == pytest.approx({"avg_gap": 22.5, "tug_of_war": 0.6 * 0.95 * 0.95, "js_forget": LN2, "js_test": LN2 / 2})
    with pytest.raises(ValueError) as refusal:
        compare_to_retrain(unlearned, _eval(one_hot_1.repeat(3, 1), torch.cat([one_hot_0, one_hot_0]), **M_R))
    assert str(refusal.value) == "the two evaluations are on different forget sets: forget logits (2, 2) vs (3, 2)"


def test_evaluate_model_draws_a_seeded_sorted_retain_sample_above_the_cap(digits, shipped_digits, cpu, monkeypatch):
    """Above MAX_PER_SIDE retain samples, the attack's members are a seeded sample (sorted indices, no
    repeats) of D_r, and the attack itself uses the same seed. Digits has ~1,300 retain samples, so the cap
    is lowered to reach that branch."""
    import unlearn_core.metrics.evaluate as evaluate_module

    model, _ = shipped_digits
    monkeypatch.setattr(evaluate_module, "MAX_PER_SIDE", 500)
    data = UnlearnData(digits, resolve("class:3", digits))
    conf_train = true_label_confidence(model.eval()(digits.train.x).detach(), digits.train.y)
    for seed in (0, 1):
        ev = evaluate_model(model, data, device=cpu, seed=seed)
        drawn = np.sort(np.random.default_rng(seed).choice(data.forget.retain_idx, size=500, replace=False))
        assert ev.mia_scores["retain"] == pytest.approx(conf_train[drawn])
        attack = svc_mia(conf_train[drawn], ev.mia_scores["test"], ev.mia_scores["forget"], seed=seed)
        assert ev.mia_scores["forget_member_prob"] == pytest.approx(attack.forget_member_prob)
    assert not np.allclose(evaluate_model(model, data, device=cpu, seed=0).mia_scores["retain"], ev.mia_scores["retain"])


def test_a_metric_that_does_not_exist_is_an_attribute_error():
    ev = _eval(torch.zeros(1, 2), torch.zeros(1, 2), forget_acc=0.5)
    assert ev.forget_acc == 0.5
    assert not hasattr(ev, "nope")
    with pytest.raises(AttributeError) as err:
        _ = ev.nope
    assert str(err.value) == "ModelEval has no attribute or metric 'nope'"


def test_attack_inputs_are_refused_by_name_with_the_exact_reason():
    from unlearn_core.metrics.mia import per_sample_loss

    logits, y = torch.zeros(3, 2), torch.tensor([0, 1])
    for fn in (true_label_confidence, per_sample_loss):
        with pytest.raises(ValueError) as err:
            fn(logits, y)
        assert str(err.value) == "3 logits but 2 labels"
    ok, nan, cube = np.ones(5), np.array([0.1, np.nan]), np.ones((1, 1, 1))
    cases = [
        (lambda: loss_threshold_mia(nan, ok), "loss_members holds NaN or infinite values"),
        (lambda: loss_threshold_mia(ok, cube), "loss_nonmembers must be [N] or [N, D]; got shape (1, 1, 1)"),
        (lambda: loss_threshold_mia(np.empty(0), ok), "the attack needs members and non-members; got 0 and 5"),
        (lambda: loss_threshold_mia(ok, np.empty(0)), "the attack needs members and non-members; got 5 and 0"),
        (lambda: svc_mia(nan, ok, ok), "conf_retain holds NaN or infinite values"),
        (lambda: svc_mia(ok, np.array([np.inf]), ok), "conf_test holds NaN or infinite values"),
        (lambda: svc_mia(ok, ok, cube), "conf_forget must be [N] or [N, D]; got shape (1, 1, 1)"),
        (lambda: svc_mia(ok, np.empty(0), ok), "the attack needs members and non-members; got 5 and 0"),
        (lambda: svc_mia(ok, ok, ok, max_per_side=0), "max_per_side must be >= 1; got 0"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError) as err:
            call()
        assert str(err.value) == message
    # one member and one non-member are enough for both attacks
    assert loss_threshold_mia(np.array([0.1]), np.array([1.0, 2.0]))["auc"] == 1.0
    assert svc_mia(np.array([1.0]), np.array([0.0]), np.array([0.9]), max_per_side=1).n_per_side == 1


def test_svc_attack_is_seeded_balanced_and_seed_0_by_default():
    rng = np.random.default_rng(5)
    retain, test, forget = rng.uniform(0.3, 1.0, 900), rng.uniform(0.0, 0.7, 400), rng.uniform(0.0, 1.0, 60)
    default = svc_mia(retain, test, forget, max_per_side=200)
    assert default.n_per_side == 200
    again = svc_mia(retain, test, forget, seed=0, max_per_side=200)
    np.testing.assert_array_equal(default.forget_member_prob, again.forget_member_prob)  # same seed, same answer
    other = svc_mia(retain, test, forget, seed=1, max_per_side=200)
    assert not np.allclose(default.forget_member_prob, other.forget_member_prob)  # the seed picks the samples
    assert svc_mia(retain[:30], test, forget).n_per_side == 30  # fewer members than non-members: 30 of each
    assert svc_mia(retain, test[:40], forget).n_per_side == 40
