"""Known answers for the inspection's references and attack scores (issue 22, items 4 and 7):
the debiased CKA estimator, the forward-hook copy before in-place operations, the CKA ceiling and
floor on the digits model, LiRA's scaled confidence and the entropy attack, the class-stratified
negatives of the membership probe."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from unlearn_core.forget import resolve
from unlearn_core.inspect import (
    cka_references,
    inspection_sample,
    layer_grams,
    layer_similarity,
    linear_cka,
    load_run,
    second_retrained,
    untrained_model,
)
from unlearn_core.inspect.cka import centred_gram, cka_per_layer
from unlearn_core.inspect.membership import (
    SampleScores,
    attack_at,
    best_attack,
    prediction_entropy,
    sample_scores,
)
from unlearn_core.inspect.probe import probe_images, stratified_negatives
from unlearn_core.metrics import scaled_confidence
from unlearn_core.models import SplitClassifier, state_digest
from unlearn_core.runs.one_run import unlearn_run
from unlearn_core.workspace.store import Workspace

CPU = torch.device("cpu")


# -- the debiased estimator ----------------------------------------------------------------------
def _song_unbiased_hsic(k: torch.Tensor, l: torch.Tensor) -> float:  # noqa: E741 (the paper's names)
    """HSIC_1 of Song et al. 2012 (eq. 5), written out from the paper on uncentred Gram matrices."""
    n = k.shape[0]
    kt, lt = k.clone(), l.clone()
    kt.fill_diagonal_(0.0)
    lt.fill_diagonal_(0.0)
    one = torch.ones(n, dtype=k.dtype)
    value = (torch.trace(kt @ lt) + (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
             - 2.0 / (n - 2) * (one @ kt @ lt @ one))
    return float(value / (n * (n - 3)))


def test_debiased_cka_is_the_cka_of_song_unbiased_hsic_and_ignores_offsets() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 9, generator=gen, dtype=torch.float64) + 5.0  # uncentred on purpose
    y = torch.randn(40, 6, generator=gen, dtype=torch.float64) + x[:, :6] - 2.0
    k, l = x @ x.T, y @ y.T  # noqa: E741
    expected = _song_unbiased_hsic(k, l) / np.sqrt(_song_unbiased_hsic(k, k) * _song_unbiased_hsic(l, l))
    assert linear_cka(x, y, debiased=True) == pytest.approx(expected, abs=1e-10)
    assert linear_cka(x - 7.0, y + 3.0, debiased=True) == pytest.approx(expected, abs=1e-10)
    assert abs(linear_cka(x, y) - expected) > 1e-3  # the biased estimator is another number


def test_debiased_cka_of_independent_wide_features_is_near_zero_where_the_biased_one_is_high() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(200, 3000, generator=gen, dtype=torch.float64)
    y = torch.randn(200, 3000, generator=gen, dtype=torch.float64)
    assert linear_cka(x, y) > 0.85  # width 15x the sample: the plug-in HSIC is mostly bias
    assert abs(linear_cka(x, y, debiased=True)) < 0.02
    for debiased in (False, True):
        assert linear_cka(x, x, debiased=debiased) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="at least 4 samples"):
        linear_cka(x[:3], y[:3], debiased=True)


# -- the forward hook copies the layer's output ----------------------------------------------------
def _stem_model(inplace: bool) -> SplitClassifier:
    torch.manual_seed(0)
    features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=inplace),
                             nn.Conv2d(4, 6, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return SplitClassifier(features, nn.Linear(6, 3))


def test_a_layer_followed_by_an_in_place_relu_is_read_before_it() -> None:
    """Like the ResNet stem (conv, BN, ReLU(inplace=True)): `features.1` is the BN output whatever
    the device; without the copy the CPU read it after the ReLU had rewritten it."""
    x = torch.randn(24, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    inplace, plain = _stem_model(True), _stem_model(False)
    assert state_digest(inplace) == state_digest(plain)
    a, b = layer_grams(inplace, x, device=CPU), layer_grams(plain, x, device=CPU)
    assert a.names == ["features.0", "features.1", "features.3", "penultimate"]
    for ga, gb in zip(a.grams, b.grams, strict=True):
        assert torch.allclose(ga, gb, atol=1e-9)
    with torch.no_grad():
        bn_out = plain.eval().features[:2](x)
    assert (bn_out < 0).any()  # the pre-ReLU values the layer must report
    assert torch.allclose(a.grams[1], centred_gram(bn_out), atol=1e-6)
    assert cka_per_layer(a, b, debiased=True) == pytest.approx([1.0] * 4, abs=1e-9)


# -- the references on the digits model ----------------------------------------------------------
@pytest.fixture(scope="module")
def digits_retrain_run(tmp_path_factory, digits, digits_model):
    model, meta = digits_model
    workspace = Workspace(tmp_path_factory.mktemp("refs") / "ws")
    record = unlearn_run(digits, model, meta, "class:3", "retrain", device=CPU, workspace=workspace)
    return workspace, record


def test_floor_is_below_ceiling_and_the_references_are_cached_seeded_and_leave_everything_untouched(
        digits_retrain_run, digits, digits_model) -> None:
    workspace, record = digits_retrain_run
    model, meta = digits_model
    run = load_run(workspace, record.entry.id, model, digits)
    digest, rng = state_digest(model), torch.random.get_rng_state()
    assert second_retrained(run, device=CPU, train=False) is None  # nothing cached yet
    refs = cka_references(run, device=CPU)
    assert set(refs) == {"untrained", "retrain_2"}
    assert state_digest(refs["retrain_2"]) != state_digest(run.models["retrain"])  # another seed
    cached = second_retrained(run, device=CPU, train=False)
    assert cached is not None and state_digest(cached) == state_digest(refs["retrain_2"])
    assert state_digest(untrained_model(meta, 2)) == state_digest(refs["untrained"])  # seed run seed + 2
    assert state_digest(untrained_model(meta, 3)) != state_digest(refs["untrained"])
    assert state_digest(model) == digest and torch.equal(torch.random.get_rng_state(), rng)

    sample = inspection_sample(digits, run.forget, seed=run.seed, per_side=120)
    rows = layer_similarity(run.models, digits, sample, device=CPU, references=refs).rows()
    penultimate = rows[-1]
    assert penultimate["name"] == "penultimate"
    for est in ("", "_debiased"):
        for side in ("", "_test"):
            floor, ceiling = penultimate[f"cka_floor{est}{side}"], penultimate[f"cka_ceiling{est}{side}"]
            assert floor + 0.2 < ceiling < 1.0, (est, side, floor, ceiling)
        # the run's unlearned model is the retrained oracle: it scores 1, above the ceiling
        assert penultimate[f"cka_vs_retrain{est}"] == pytest.approx(1.0, abs=1e-9)
    assert penultimate["cka_floor_debiased"] < penultimate["cka_floor"]  # the bias lifts the floor
    without = layer_similarity(run.models, digits, sample, device=CPU).rows()[-1]
    assert without["cka_ceiling"] is None and without["cka_floor_debiased_test"] is None
    assert without["cka_vs_original"] == penultimate["cka_vs_original"]
    assert state_digest(model) == digest


# -- the membership scores -----------------------------------------------------------------------
def test_scaled_confidence_is_log_p_over_one_minus_p_and_stays_finite() -> None:
    logits = torch.tensor([[2.0, 0.0, 0.0], [2.0, 0.0, 0.0], [60.0, 0.0, 0.0]])
    y = torch.tensor([0, 1, 0])
    got = scaled_confidence(logits, y)
    p = torch.softmax(logits.double(), 1)[torch.arange(3), y].numpy()
    assert got[0] == pytest.approx(2.0 - np.log(2.0), abs=1e-12)  # p = e²/(e² + 2)
    assert got[1] == pytest.approx(-np.log1p(np.exp(2.0)), abs=1e-12)  # p = 1/(e² + 2)
    assert got[:2] == pytest.approx(np.log(p[:2] / (1 - p[:2])), abs=1e-12)
    assert got[2] == pytest.approx(60.0 - np.log(2.0), abs=1e-9)  # where p rounds to 1 and log(p/(1-p)) to inf
    assert prediction_entropy(torch.zeros(1, 4)) == pytest.approx([np.log(4.0)], abs=1e-12)


def test_entropy_is_another_attack_than_the_confidence_one() -> None:
    """A forget sample predicted confidently wrong is a member to the entropy (sure prediction)
    and a non-member to the scaled confidence (low p_y); a test sample at p = 1/2 the reverse."""
    s = sample_scores(torch.tensor([[0.0, 10.0]]), torch.tensor([0]), torch.tensor([[0.0, 0.0]]), torch.tensor([0]))
    assert s.forget("entropy")[0] < 0.01 and s.nonmember("entropy")[0] == pytest.approx(np.log(2.0))
    assert attack_at(s, -0.5, "scaled_confidence") == pytest.approx({"tpr": 0.0, "fpr": 1.0, "accuracy": 0.0})
    assert attack_at(s, 0.5, "entropy") == pytest.approx({"tpr": 1.0, "fpr": 0.0, "accuracy": 1.0})
    assert best_attack(s, "entropy")["accuracy"] == 1.0 and best_attack(s, "scaled_confidence")["accuracy"] == 0.5


def test_confidence_loss_and_scaled_confidence_are_one_attack() -> None:
    gen = torch.Generator().manual_seed(3)
    s = sample_scores(torch.randn(60, 5, generator=gen) * 3, torch.randint(0, 5, (60,), generator=gen),
                      torch.randn(50, 5, generator=gen) * 2, torch.randint(0, 5, (50,), generator=gen))
    best = {score: best_attack(s, score)["accuracy"] for score in ("confidence", "loss", "scaled_confidence")}
    assert best["confidence"] == best["loss"] == best["scaled_confidence"]
    assert best_attack(s, "entropy")["accuracy"] != best["confidence"]
    p = 0.8  # the same split at matching thresholds
    assert attack_at(s, p, "confidence") == attack_at(s, float(np.log(p / (1 - p))), "scaled_confidence")
    legacy = SampleScores(s.forget_confidence, s.forget_loss, s.forget_pred, s.nonmember_confidence, s.nonmember_loss)
    assert legacy.forget("scaled_confidence") == pytest.approx(s.forget("scaled_confidence"), abs=1e-6)
    with pytest.raises(ValueError, match="without the entropy"):
        legacy.forget("entropy")


# -- the probe's negatives -----------------------------------------------------------------------
def test_probe_negatives_of_a_non_iid_forget_set_have_the_positives_classes(digits) -> None:
    forget = resolve("random:0.05@2,5", digits, 0)  # 72 of the 288 images of 2s and 5s
    sample = inspection_sample(digits, forget, seed=0, per_side=300)
    labels = digits.train.y.numpy()
    pos, neg, what = probe_images(digits, forget, sample)
    assert "same classes" in what and len(pos) == len(neg) == len(sample.forget_idx)
    retain = stratified_negatives(labels, sample.forget_idx, forget.retain_idx, seed=1)
    assert set(retain.tolist()) <= set(forget.retain_idx.tolist())
    counts = np.bincount(labels[sample.forget_idx], minlength=10)
    assert counts[[2, 5]].sum() == len(sample.forget_idx)  # positives: classes 2 and 5 only
    assert np.bincount(labels[retain], minlength=10).tolist() == counts.tolist()
    assert torch.equal(neg, digits.train.x[torch.as_tensor(retain)])


def test_stratified_negatives_take_a_whole_class_when_it_is_short() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1, 0, 0, 1, 2, 2])
    got = stratified_negatives(labels, np.array([0, 1, 2, 3, 4, 9]), np.array([5, 6, 7, 8, 10]), seed=0)
    assert got.tolist() == [5, 6, 7, 8, 10]  # class 0: both of 2; class 1: 5 and 8; class 2: 10
    got = stratified_negatives(labels, np.array([0, 3]), np.array([5, 6, 7, 8]), seed=0)
    assert np.bincount(labels[got], minlength=3).tolist() == [1, 1, 0]
