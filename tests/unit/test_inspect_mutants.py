"""Known answers for the inspection helpers the mutation run found untested or loosely tested
(issue 22): the relearn summary and `RelearnResult.steps_to`, the per-sample drill-down rows and
view, `comparable_runs` and `per_class` of A vs B, the stratified probe negatives, the membership
score / nearest-to-threshold / log-odds helpers and linear CKA's refusal.

Every input is a small hand-built array or a two-parameter linear model, so each expected value
can be worked out by hand (the comments do) and nothing trains: the whole module runs in about a
second."""

from __future__ import annotations

import math
import re
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from unlearn_core.forget import ForgetSet
from unlearn_core.inspect import persample, versus
from unlearn_core.inspect.cka import (
    LayerGrams,
    centred_gram,
    cka_per_layer,
    feature_layers,
    layer_grams,
    linear_cka,
    linear_cka_gram,
    unbiased_centred,
)
from unlearn_core.inspect.inspection import relearn_view
from unlearn_core.inspect.membership import (
    SampleScores,
    _logit,
    attack_at,
    best_attack,
    called_member,
    membership_score,
    nearest_to_threshold,
    prediction_entropy,
    sample_scores,
)
from unlearn_core.inspect.persample import sample_rows, sample_view, still_remembered
from unlearn_core.inspect.predictions import prediction_matrices, prediction_matrix
from unlearn_core.inspect.probe import probe_accuracy, probe_images, stratified_negatives
from unlearn_core.inspect.relearn import RelearnResult, relearn_curve, relearn_summary, relearn_test, split_shots
from unlearn_core.inspect.sample import InspectionSample, inspection_sample
from unlearn_core.inspect.versus import (
    comparable_runs,
    metric_rows,
    per_class,
    study_versus,
    versus_models,
    versus_text,
)

CPU = torch.device("cpu")


def exactly(message: str) -> str:
    """A `pytest.raises` pattern for the whole message (a changed word anywhere fails the test)."""
    return "^" + re.escape(message) + "$"


# -- relearn: steps to the level, the summary the Compare page and the HTML report show ----------
def _relearn() -> RelearnResult:
    """Four steps; the original is at 1.0 from the start, the unlearned model crosses 0.9 at step 2
    (exactly 0.9: "reaches" is >=), the retrained one stays just below (0.899)."""
    return RelearnResult(steps=[0, 1, 2, 3],
                         curves={"original": [1.0, 1.0, 1.0, 1.0], "unlearned": [0.1, 0.5, 0.9, 0.95],
                                 "retrain": [0.0, 0.2, 0.4, 0.899]},
                         shots=16, n_eval=44, lr=0.01, seed=3)


def test_steps_to_is_the_first_step_at_or_above_the_level() -> None:
    r = _relearn()
    assert r.steps_to("original", 0.9) == 0
    assert r.steps_to("unlearned", 0.9) == 2  # 0.9 >= 0.9: the level itself counts as reached
    assert r.steps_to("unlearned", 0.5) == 1
    assert r.steps_to("unlearned", 0.96) is None
    assert r.steps_to("retrain", 0.9) is None
    r.curves["unlearned"] = [0.1, 0.5]  # a curve that does not match the steps is an error, not a guess
    with pytest.raises(ValueError):
        r.steps_to("unlearned", 0.9)


def test_relearn_summary_figures_and_texts() -> None:
    """Per model: the first step reaching the level (None if none), the final accuracy, and their
    texts ("2 of 3" / "not within 3", "89.9%")."""
    summary = relearn_summary(_relearn().to_dict())
    assert summary == {
        "original": {"steps_to_level": 0, "final": 1.0, "level": 0.9, "steps_text": "0 of 3", "final_text": "100.0%"},
        "unlearned": {"steps_to_level": 2, "final": 0.95, "level": 0.9, "steps_text": "2 of 3",
                      "final_text": "95.0%"},
        "retrain": {"steps_to_level": None, "final": 0.899, "level": 0.9, "steps_text": "not within 3",
                    "final_text": "89.9%"},
    }
    assert isinstance(summary["unlearned"]["steps_to_level"], int)


def test_relearn_summary_level_missing_models_and_mismatched_curves() -> None:
    relearn = {"steps": [0, 1, 2], "unlearned": [0.2, 0.5, 0.7]}  # only one model stored
    summary = relearn_summary(relearn, level=0.5)
    assert list(summary) == ["unlearned"]
    assert summary["unlearned"]["steps_to_level"] == 1 and summary["unlearned"]["level"] == 0.5
    assert summary["unlearned"]["steps_text"] == "1 of 2"
    assert relearn_summary({"steps": [0, 1], "retrain": [0.1, 0.2]})["retrain"]["steps_text"] == "not within 1"
    with pytest.raises(ValueError):  # strict: a curve shorter than the steps is refused
        relearn_summary({"steps": [0, 1, 2], "original": [0.1, 0.2]})


def _identity_classifier() -> nn.Module:
    """2-feature, 2-class bias-free linear model with weight I: predicts the larger feature."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 2, bias=False))
    model[1].weight.data = torch.eye(2)
    return model.eval()


def test_relearn_curve_scores_only_the_held_out_samples_without_training_a_digits_model() -> None:
    """Issue 22's planted bug (the relearn test also scoring its own finetuning samples) caught
    cheaply: the finetuning samples are ones the model gets right, the evaluation samples all have
    a label the model does not predict, and a learning rate too small to move anything, so the
    curve must be 0 at every step; scoring the finetuning samples too would give 2 / 5."""
    model = _identity_classifier()
    x_train, y_train = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1])
    x_eval, y_eval = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 0.5]]), torch.tensor([1, 0, 1])
    curve = relearn_curve(model, x_train, y_train, x_eval, y_eval, steps=2, lr=1e-9, device=CPU)
    assert curve == [0.0, 0.0, 0.0]


def test_relearn_test_one_sgd_step_worked_by_hand() -> None:
    """One full-batch SGD step (lr 1, no weight decay) on the single sample x = (1, 0), label 1:
    the gradient of the cross-entropy w.r.t. W is (softmax(Wx) - e_1) x^T, softmax((1, 0)) =
    (0.731, 0.269), so W becomes [[0.269, 0], [0.731, 1]] and (2, 0), (3, 0) switch from class 0
    to class 1: forget accuracy 0 -> 1, and it stays 1 at step 2. The caller's model is untouched."""
    model = _identity_classifier()
    before = model[1].weight.detach().clone()
    x_train, y_train = torch.tensor([[1.0, 0.0]]), torch.tensor([1])
    x_eval, y_eval = torch.tensor([[2.0, 0.0], [3.0, 0.0]]), torch.tensor([1, 1])
    result = relearn_test({"a": model, "b": _identity_classifier()}, x_train, y_train, x_eval, y_eval, steps=2,
                          lr=1.0, seed=4, device=CPU)
    assert result.curves == {"a": [0.0, 1.0, 1.0], "b": [0.0, 1.0, 1.0]}
    assert (result.steps, result.shots, result.n_eval, result.lr, result.seed) == ([0, 1, 2], 1, 2, 1.0, 4)
    assert result.to_dict() == {"steps": [0, 1, 2], "a": [0.0, 1.0, 1.0], "b": [0.0, 1.0, 1.0], "shots": 1,
                                "n_eval": 2, "lr": 1.0, "seed": 4}
    assert torch.equal(model[1].weight, before)
    assert relearn_curve(model, x_train, y_train, x_eval, y_eval, steps=1, lr=0.1, device=CPU) == [0.0, 0.0]
    assert relearn_test({"a": model}, x_train, y_train, x_eval, y_eval, steps=1, lr=1.0, device=CPU).seed == 0


def test_relearn_view_evaluates_on_the_inspection_sample_less_its_shots_cheaply() -> None:
    """The view's split, checked without a trained model: the seeded shots (`split_shots`) get
    labels the identity classifier predicts, every other forget sample a label it does not, so the
    held-out accuracy is 0 at every step (a tiny learning rate moves nothing); evaluating on all
    forget samples, shots included, would give 3 / 8."""
    forget_idx = np.array([2, 3, 5, 7, 8, 11, 12, 14])
    shots, seed = 3, 6
    train_idx, held_out = split_shots(forget_idx, shots, seed)
    x = torch.tensor([[1.0, 0.0] if i % 2 else [0.0, 1.0] for i in range(16)])  # predicted class: 1 - i % 2
    y = torch.tensor([1 - i % 2 if i in set(train_idx.tolist()) else i % 2 for i in range(16)])
    data = SimpleNamespace(train=SimpleNamespace(subset=lambda idx: SimpleNamespace(x=x[torch.as_tensor(idx)],
                                                                                    y=y[torch.as_tensor(idx)])))
    sample = InspectionSample(forget_idx, np.arange(4), np.arange(4), False, seed)
    result = relearn_view({"original": _identity_classifier()}, data, sample, steps=2, shots=shots, lr=1e-9,
                          device=CPU)
    assert result.curves == {"original": [0.0, 0.0, 0.0]}
    assert result.shots == 3 and result.n_eval == len(held_out) == 5 and result.seed == seed


# -- per-sample drill-down -----------------------------------------------------------------------
def _two_models_scores() -> dict[str, SampleScores]:
    """Two forget samples and three test samples, three classes, logits chosen for round numbers:
    forget sample 1 has logits (0, ln 3, 0) with label 1, so p_y = 3/5, loss = ln(5/3), scaled
    confidence ln(3/2)."""
    f_logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, math.log(3.0), 0.0]])
    f_y = torch.tensor([0, 1])
    t_logits = torch.tensor([[0.0, 0.0, 0.0], [5.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    t_y = torch.tensor([1, 0, 0])
    other = torch.tensor([[0.0, 0.0, 3.0], [0.0, 0.0, 0.0]])  # the second model predicts class 2 for sample 0
    return {"unlearned": sample_scores(f_logits, f_y, t_logits, t_y),
            "retrain": sample_scores(other, f_y, t_logits, t_y)}


def test_sample_rows_known_answers() -> None:
    scores = _two_models_scores()
    rows = sample_rows(scores, 1)
    test_loss = scores["unlearned"].nonmember_loss  # ln 3, ~0.0134, ln(2 + e) ~ 1.551
    assert set(rows) == {"unlearned", "retrain"}
    u = rows["unlearned"]
    assert set(u) == {"prediction", "confidence", "loss", "membership_score", "scaled_confidence", "entropy"}
    assert u["prediction"] == 1 and isinstance(u["prediction"], int)
    assert u["confidence"] == pytest.approx(0.6)
    assert u["loss"] == pytest.approx(math.log(5 / 3))
    # loss ln(5/3) ~ 0.511 is below two of the three test losses (ln 3, ln(2 + e))
    assert sorted(test_loss)[1] > math.log(5 / 3) > sorted(test_loss)[0]
    assert u["membership_score"] == pytest.approx(2 / 3)
    assert u["scaled_confidence"] == pytest.approx(math.log(1.5))
    p = np.array([1 / 5, 3 / 5, 1 / 5])
    assert u["entropy"] == pytest.approx(float(-(p * np.log(p)).sum()))
    r0 = sample_rows(scores, 0)["retrain"]  # logits (0, 0, 3), label 0: predicted 2, p_y = 1 / (2 + e^3)
    assert r0["prediction"] == 2
    assert r0["confidence"] == pytest.approx(1 / (2 + math.e ** 3))
    assert r0["membership_score"] == 0.0  # a loss above every test loss
    assert all(isinstance(v, float) for k, v in r0.items() if k != "prediction")


def test_sample_rows_without_entropies_and_out_of_range_positions() -> None:
    """Scores built from confidences alone have a scaled confidence but no entropy: the row omits
    the entropy instead of failing (`_has`); a position outside the forget samples is refused."""
    scores = {"unlearned": SampleScores(np.array([0.8, 0.5]), np.array([0.2, 0.7]), np.array([1, 0]),
                                        np.array([0.5]), np.array([0.6]))}
    row = sample_rows(scores, 0)["unlearned"]
    assert set(row) == {"prediction", "confidence", "loss", "membership_score", "scaled_confidence"}
    assert row["scaled_confidence"] == pytest.approx(math.log(4.0))  # 0.8 / 0.2
    assert row["membership_score"] == 1.0 and sample_rows(scores, 1)["unlearned"]["membership_score"] == 0.0
    assert persample._has(scores["unlearned"], "scaled_confidence") is True
    assert persample._has(scores["unlearned"], "entropy") is False
    for bad in (2, -1):
        with pytest.raises(ValueError, match=exactly(f"sample position {bad} is outside the 2 forget samples")):
            sample_rows(scores, bad)


def _linear_model(weight: list[list[float]]) -> nn.Module:
    """Flatten + bias-free linear layer on 1 x 1 x 2 images: Integrated Gradients of a linear model
    is exact, x * w[label] for a black baseline."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, len(weight), bias=False))
    model[1].weight.data = torch.tensor(weight)
    return model


def test_sample_view_maps_the_true_label_of_the_sample_at_the_position() -> None:
    scores = _two_models_scores()
    models = {"unlearned": _linear_model([[1.0, 0.0], [2.0, -1.0], [0.0, 0.0]]),
              "retrain": _linear_model([[0.0, 0.0], [0.5, 3.0], [1.0, 1.0]])}
    x = torch.tensor([[[3.0, 2.0]]])  # [C=1, H=1, W=2]
    view = sample_view(models, scores, np.array([40, 41]), x, torch.tensor(1), 1, device=CPU, n_steps=8)
    assert view.train_index == 41 and view.label == 1
    assert view.rows == sample_rows(scores, 1)
    assert set(view.attributions) == {"unlearned", "retrain"}
    assert view.attributions["unlearned"].maps[0, 0, 0] == pytest.approx([6.0, -2.0], abs=1e-5)  # x * w[1]
    assert view.attributions["retrain"].maps[0, 0, 0] == pytest.approx([1.5, 6.0], abs=1e-5)
    assert view.attributions["retrain"].targets.tolist() == [1]


def test_sample_view_passes_one_image_its_label_and_64_steps_by_default(monkeypatch) -> None:
    calls = []

    def record(models, x, targets, *, device, n_steps):
        calls.append((x.shape, targets, device, n_steps))
        return {"m": "maps"}

    monkeypatch.setattr(persample, "pixel_attributions", record)
    view = sample_view({}, _two_models_scores(), np.array([7, 9]), torch.zeros(1, 2, 2), torch.tensor(2), 0,
                       device=CPU)
    assert calls == [((1, 1, 2, 2), 2, CPU, 64)]
    assert view.attributions == {"m": "maps"} and view.train_index == 7 and view.label == 2


# -- A vs B: comparable runs and per-class accuracy ----------------------------------------------
BASE = {"dataset": "digits", "forget": "class:3", "seed": 0, "data_fingerprint": "d", "model_digest": "m"}


def test_comparable_runs_keeps_the_order_drops_the_excluded_and_the_incomparable() -> None:
    entries = [SimpleNamespace(id="r1", info=dict(BASE)), SimpleNamespace(id="r2", info={**BASE, "seed": 1}),
               SimpleNamespace(id="r3", info={**BASE, "method": "salun"}), SimpleNamespace(id="r4", info=dict(BASE))]
    assert [e.id for e in comparable_runs(entries, BASE)] == ["r1", "r3", "r4"]
    assert [e.id for e in comparable_runs(entries, BASE, exclude="r3")] == ["r1", "r4"]
    assert [e.id for e in comparable_runs(entries, {**BASE, "seed": 1}, exclude="r1")] == ["r2"]
    assert comparable_runs([], BASE) == []


def test_per_class_reads_each_runs_stored_accuracies() -> None:
    a = {"details": {"unlearned": {"per_class_test_acc": [1, 0.5]}, "retrain": {"per_class_test_acc": [0.25, 1]}}}
    b = {"details": {"unlearned": {"per_class_test_acc": [0.75, 0.0]}, "retrain": {"per_class_test_acc": [0.0, 0.0]}}}
    out = per_class(a, b)
    assert out == {"a": [1.0, 0.5], "b": [0.75, 0.0], "retrain": [0.25, 1.0]}  # A's retrained model
    assert all(type(v) is float for v in out["a"])  # stored ints come back as floats
    no_retrain = {"details": {"unlearned": {"per_class_test_acc": [0.5, 0.5]}}}
    assert per_class(no_retrain, b)["retrain"] == [0.0, 0.0]  # B's retrained model when A has none
    assert per_class({}, {"details": {}}) == {"a": None, "b": None, "retrain": None}


# -- the probe's stratified negatives ------------------------------------------------------------
def test_stratified_negatives_match_the_class_counts_of_the_positives() -> None:
    """Positives: two of class 0, one of class 1, one of class 2. The pool has exactly two of class
    0 (both taken, without a draw), four of class 1 (one drawn), one of class 2 (all it has).
    The draw is seeded: default_rng(5) picks the pool's class-1 sample at position 1 (index 13)."""
    labels = np.array([0, 0, 1, 2, 0, 0, 1, 1, 1, 1, 2, 0, 0, 1, 2])
    positives = [0, 1, 2, 3]
    pool = np.array([4, 5, 6, 7, 13, 9, 10], dtype=np.int32)  # classes 0, 0, 1, 1, 1, 1, 2
    got = stratified_negatives(labels, positives, pool, seed=5)
    rng = np.random.default_rng(5)  # what "draw one of the four class-1 samples" gives with this seed
    expected_1 = rng.choice(np.array([6, 7, 13, 9]), 1, replace=False)
    assert got.tolist() == sorted([4, 5, *expected_1.tolist(), 10])
    assert got.tolist() == [4, 5, 10, 13]
    assert got.dtype == np.int64
    # two positives of class 1: two distinct pool samples, never the same one twice
    many = stratified_negatives(labels, [2, 6, 0], np.array([7, 8, 9, 13, 11]), seed=0)
    assert len(set(many.tolist())) == 3 and sorted(labels[many].tolist()) == [0, 1, 1]


def test_stratified_negatives_draw_only_when_the_pool_has_more() -> None:
    """A class whose pool has exactly as many samples as positives takes them without a draw, so
    the seeded draws of the next classes are the same as if that class were absent."""
    labels = np.array([0, 0, 1, 1, 1, 1, 1, 1])
    with_exact_class = stratified_negatives(labels, [0, 2], np.array([1, 3, 4, 5, 6, 7]), seed=2)
    only_drawn_class = stratified_negatives(labels, [2], np.array([3, 4, 5, 6, 7]), seed=2)
    assert with_exact_class.tolist() == sorted([1, *only_drawn_class.tolist()])
    for seed in range(6):  # the shared draw: identical for every seed
        a = stratified_negatives(labels, [0, 2, 3], np.array([1, 3, 4, 5, 6, 7]), seed=seed)
        b = stratified_negatives(labels, [2, 3], np.array([3, 4, 5, 6, 7]), seed=seed)
        assert a.tolist() == sorted([1, *b.tolist()])


def test_stratified_negatives_of_no_positives_is_an_empty_index_array() -> None:
    got = stratified_negatives(np.array([0, 1]), [], np.array([0, 1]), seed=0)
    assert got.shape == (0,) and got.dtype == np.int64


# -- membership helpers --------------------------------------------------------------------------
def test_logit_is_the_float64_log_odds_silently_infinite_at_0_and_1() -> None:
    p = np.array([0.0, 0.2, 0.5, 0.8, 1.0], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # p = 1 divides by zero in log1p(-p): no RuntimeWarning
        got = _logit(p)
    assert got.dtype == np.float64
    assert got[0] == -np.inf and got[4] == np.inf and got[2] == 0.0
    # computed in float64 from the float32 value of 0.2 (not in float32)
    p02 = float(np.float32(0.2))
    assert got[1] == math.log(p02) - math.log1p(-p02) and got[3] == pytest.approx(math.log(4.0), abs=1e-7)
    assert _logit([0.25]).tolist() == [math.log(0.25) - math.log1p(-0.25)]  # a list is accepted


def test_membership_score_ties_single_and_empty_references() -> None:
    ref = np.array([2.0, 0.5, 1.0, 1.0])  # unsorted on purpose
    # a reference loss equal to the sample's is not "higher": loss 1.0 has only 2.0 above it, loss
    # 0.5 has 1.0, 1.0 and 2.0
    assert membership_score(np.array([1.0, 0.5, 0.1, 2.5]), ref).tolist() == [0.25, 0.75, 1.0, 0.0]
    assert membership_score([0.3, 0.9], [0.5]).tolist() == [1.0, 0.0]  # one reference sample
    empty = membership_score(np.array([0.3, 0.9, 1.2]), np.array([]))
    assert empty.shape == (3,) and np.isnan(empty).all()


def test_nearest_to_threshold_order_default_k_and_ties() -> None:
    values = np.array([0.125, 0.4375, 0.875, 0.53125, 0.25, 0.75, 0.0, 1.0, 0.625, 0.484375])  # exact binary
    # distances to 0.5: 3/8, 1/16, 3/8, 1/32, 1/4, 1/4, 1/2, 1/2, 1/8, 1/64 -> closest first, ties in
    # position order
    assert nearest_to_threshold(values, 0.5).tolist() == [9, 3, 1, 8, 4, 5, 0, 2]  # k = 8 by default
    assert nearest_to_threshold(values, 0.5, k=3).tolist() == [9, 3, 1]
    assert nearest_to_threshold(values, 0.5, k=0).tolist() == []
    assert nearest_to_threshold(values, -0.2, k=2).tolist() == [6, 0]  # not |v + t|
    tied = np.tile([0.0, 1.0], 20)  # 40 samples all 0.5 from the threshold: kept in position order
    assert nearest_to_threshold(tied, 0.5, k=40).tolist() == list(range(40))


# -- CKA -----------------------------------------------------------------------------------------
def test_linear_cka_refuses_representations_of_different_inputs() -> None:
    with pytest.raises(ValueError, match=exactly("representations of 3 and 4 inputs")):
        linear_cka(torch.zeros(3, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match=exactly("Gram matrices of different sizes: (3, 3) vs (4, 4)")):
        linear_cka_gram(torch.zeros(3, 3), torch.zeros(4, 4))
    with pytest.raises(ValueError, match=exactly("the debiased CKA needs at least 4 samples; got 3")):
        unbiased_centred(torch.zeros(3, 3))


def test_unbiased_centring_known_answer_and_debiased_cka() -> None:
    """The unbiased centring of the 4 x 4 Gram of x = (0, 1, 2, 3) worked by hand: zero the
    diagonal, column sums / (n - 2), minus their total / (2 (n - 1)), subtract on both sides."""
    x = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    flat = x - x.mean()
    gram = flat @ flat.T
    g = gram.double().clone()
    g.fill_diagonal_(0.0)
    means = g.sum(0) / 2
    means = means - means.sum() / 6
    expected = g - means[:, None] - means[None, :]
    expected.fill_diagonal_(0.0)
    got = unbiased_centred(gram)
    assert torch.allclose(got, expected, atol=1e-12)
    assert torch.equal(gram, flat @ flat.T)  # the input is left as it was
    assert linear_cka(x, 2 * x + 1, debiased=True) == pytest.approx(1.0, abs=1e-12)
    assert math.isnan(linear_cka(x, torch.ones(4, 1)))  # a constant representation: NaN, not 0


# -- the threshold attack at its best threshold, entropies, the score fields ----------------------
def test_best_attack_known_answer_and_empty_sides() -> None:
    """Forget confidences 0.9, 0.8, 0.3 against test 0.2, 0.85. Balanced accuracy at each observed
    threshold t (member if >= t): 0.2 -> 0.5, 0.3 -> (1 + 0.5) / 2 = 0.75, 0.8 -> 7/12,
    0.85 -> 5/12, 0.9 -> 2/3: the best is t = 0.3. The loss attack (member if <=) finds the same
    split at -ln 0.3."""
    f, t = np.array([0.9, 0.8, 0.3]), np.array([0.2, 0.85])
    s = SampleScores(f, -np.log(f), np.zeros(3, dtype=int), t, -np.log(t))
    assert best_attack(s, "confidence") == {"threshold": 0.3, "accuracy": 0.75, "tpr": 1.0, "fpr": 0.5}
    loss = best_attack(s, "loss")
    assert loss["threshold"] == pytest.approx(-math.log(0.3)) and loss["accuracy"] == 0.75
    assert (loss["tpr"], loss["fpr"]) == (1.0, 0.5)
    nan = {"threshold": math.nan, "accuracy": math.nan, "tpr": math.nan, "fpr": math.nan}
    no_test = SampleScores(f, -np.log(f), np.zeros(3, dtype=int), np.zeros(0), np.zeros(0))
    no_forget = SampleScores(np.zeros(0), np.zeros(0), np.zeros(0, dtype=int), t, -np.log(t))
    for scores in (no_test, no_forget):
        got = best_attack(scores, "confidence")
        assert list(got) == list(nan) and all(math.isnan(v) for v in got.values())
    # p = 1 everywhere: the scaled confidences are all +inf, no finite threshold to try
    certain = SampleScores(np.ones(2), np.zeros(2), np.zeros(2, dtype=int), np.ones(2), np.zeros(2))
    assert math.isnan(best_attack(certain, "scaled_confidence")["threshold"])


def test_called_member_at_the_threshold_itself_and_empty_sides() -> None:
    values = np.array([0.2, 0.5, 0.8])
    assert called_member(values, 0.5, "confidence").tolist() == [False, True, True]  # >=
    assert called_member(values, 0.5, "scaled_confidence").tolist() == [False, True, True]
    assert called_member(values, 0.5, "loss").tolist() == [True, True, False]  # <=
    assert called_member(values, 0.5, "entropy").tolist() == [True, True, False]
    with pytest.raises(ValueError, match=exactly("score must be one of confidence, loss, scaled_confidence, entropy; got 'x'")):
        called_member(values, 0.5, "x")
    empty = SampleScores(np.zeros(0), np.zeros(0), np.zeros(0, dtype=int), np.array([0.7]), np.array([0.3]))
    got = attack_at(empty, 0.5, "confidence")
    assert math.isnan(got["tpr"]) and got["fpr"] == 1.0 and math.isnan(got["accuracy"])
    no_test = SampleScores(np.array([0.7]), np.array([0.3]), np.zeros(1, dtype=int), np.zeros(0), np.zeros(0))
    got = attack_at(no_test, 0.5, "confidence")
    assert got["tpr"] == 1.0 and math.isnan(got["fpr"])


def test_prediction_entropy_and_sample_scores_fields() -> None:
    """Logits (0, ln 3): p = (1/4, 3/4), H = -(1/4 ln 1/4 + 3/4 ln 3/4); a class at -inf logit
    contributes 0 (0 ln 0 is taken as 0, not NaN); a one-hot certain prediction has H = 0."""
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, -math.inf], [5.0, 5.0]])
    h = prediction_entropy(logits)
    assert h.dtype == np.float64
    assert h[0] == pytest.approx(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)), abs=1e-7)  # float32 ln 3
    assert h[1] == 0.0 and h[2] == pytest.approx(math.log(2.0), abs=1e-12)
    s = sample_scores(torch.tensor([[0.0, math.log(3.0)], [2.0, 0.0]]), torch.tensor([1, 1]),
                      torch.tensor([[0.0, 0.0]]), torch.tensor([0]))
    assert s.forget_pred.tolist() == [1, 0]
    assert s.forget("confidence") == pytest.approx([0.75, 1 / (1 + math.e ** 2)])
    assert s.forget("loss") == pytest.approx([-math.log(0.75), math.log(1 + math.e ** 2)])
    assert s.forget("scaled_confidence") == pytest.approx([math.log(3.0), -2.0])
    assert s.nonmember("confidence").tolist() == [0.5] and s.nonmember("loss") == pytest.approx([math.log(2.0)])
    assert s.nonmember("scaled_confidence").tolist() == [0.0]
    assert s.nonmember("entropy") == pytest.approx([math.log(2.0)])
    with pytest.raises(ValueError, match=exactly("score must be one of confidence, loss, scaled_confidence, entropy; got 'margin'")):
        s.nonmember("margin")
    legacy = SampleScores(np.array([0.5]), np.array([0.7]), np.array([0]), np.array([0.8]), np.array([0.2]))
    assert legacy.nonmember("scaled_confidence") == pytest.approx([math.log(4.0)])
    with pytest.raises(ValueError, match=exactly("these scores were built without the entropy (use sample_scores on the logits)")):
        legacy.nonmember("entropy")


def test_still_remembered_needs_both_models_and_caps_k() -> None:
    s = {"unlearned": SampleScores(np.array([0.9, 0.6]), np.zeros(2), np.zeros(2, dtype=int), np.ones(1), np.ones(1)),
         "retrain": SampleScores(np.array([0.1, 0.5]), np.zeros(2), np.zeros(2, dtype=int), np.ones(1), np.ones(1))}
    assert [r["position"] for r in still_remembered(s, np.array([5, 6]), k=1)] == [0]
    assert still_remembered(s, np.array([5, 6]), k=0) == [] and still_remembered(s, np.array([5, 6]), k=-3) == []
    row = still_remembered(s, np.array([5, 6]))[1]
    assert row == {"position": 1, "train_index": 6, "excess": pytest.approx(0.1), "unlearned_confidence": 0.6,
                   "retrain_confidence": 0.5}
    for missing in ("unlearned", "retrain"):
        with pytest.raises(ValueError, match=exactly("the still-remembered list needs the unlearned and the retrained model")):
            still_remembered({k: v for k, v in s.items() if k != missing}, np.array([5, 6]))


# -- prediction matrices -------------------------------------------------------------------------
def test_prediction_matrices_against_the_originals_predictions() -> None:
    preds = {"original": np.array([0, 1, 1, 2]), "unlearned": np.array([0, 2, 1, 2]), "retrain": np.array([1, 2, 2, 2])}
    m = prediction_matrices(preds, 3)
    assert m.n == 4
    assert m.matrices["original"].tolist() == [[1, 0, 0], [0, 2, 0], [0, 0, 1]]
    assert m.matrices["unlearned"].tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    assert m.matrices["retrain"].tolist() == [[0, 1, 0], [0, 0, 2], [0, 0, 1]]
    assert m.matrices["retrain"].dtype == np.int64
    assert m.to_dict() == {"n": 4, "original": [[1, 0, 0], [0, 2, 0], [0, 0, 1]],
                           "unlearned": [[1, 0, 0], [0, 1, 1], [0, 0, 1]], "retrain": [[0, 1, 0], [0, 0, 2], [0, 0, 1]]}
    with pytest.raises(ValueError, match=exactly("the original model's predictions are needed as the rows")):
        prediction_matrices({"unlearned": preds["unlearned"]}, 3)


def test_prediction_matrix_refusals_and_edges() -> None:
    with pytest.raises(ValueError, match=exactly("two prediction vectors of one length are needed; got shapes (2,) and (3,)")):
        prediction_matrix(np.array([0, 1]), np.array([0, 1, 1]), 3)
    with pytest.raises(ValueError, match=exactly("two prediction vectors of one length are needed; got shapes (2, 2) and (2, 2)")):
        prediction_matrix(np.zeros((2, 2)), np.zeros((2, 2)), 3)
    for a, b in (([0, -1], [0, 0]), ([0, 0], [-1, 0]), ([0, 3], [0, 0]), ([0, 0], [0, 3])):
        with pytest.raises(ValueError, match=exactly("predictions must be class indices in 0..2")):
            prediction_matrix(np.array(a), np.array(b), 3)
    assert prediction_matrix(np.array([0, 2]), np.array([2, 2]), 3).tolist() == [[0, 0, 1], [0, 0, 0], [0, 0, 1]]
    assert prediction_matrix(np.array([], dtype=int), np.array([], dtype=int), 2).tolist() == [[0, 0], [0, 0]]
    # torch tensors and repeated pairs: every pair counted (np.add.at, not a fancy-index assignment)
    assert prediction_matrix(torch.tensor([1, 1, 1]), torch.tensor([0, 0, 0]), 2).tolist() == [[0, 0], [3, 0]]


# -- the inspection sample -----------------------------------------------------------------------
def _forget(forget_idx, test_forget_idx=None, spec="random:x") -> ForgetSet:
    return ForgetSet(spec, "random", np.asarray(forget_idx), np.arange(0), (), test_forget_idx)


def test_inspection_sample_takes_everything_when_the_pools_are_small() -> None:
    data = SimpleNamespace(test=[None] * 10)
    sample = inspection_sample(data, _forget([7, 3, 5], np.array([8, 2])), seed=4, per_side=8)
    assert sample.forget_idx.tolist() == [3, 5, 7]  # sorted, all three
    assert sample.test_idx.tolist() == [0, 1, 3, 4, 5, 6, 7, 9]  # the 8 test images outside the slice 2, 8
    assert sample.nonmember_idx.tolist() == [2, 8] and sample.nonmember_is_slice is True and sample.seed == 4


def test_inspection_sample_draws_in_a_fixed_order_with_the_seed() -> None:
    """Forget samples first, then test samples, then non-members, each a seeded draw without
    replacement when the pool is larger than `per_side` (sorted); a pool of exactly `per_side`
    is taken whole without consuming the generator."""
    data = SimpleNamespace(test=[None] * 12)
    forget = _forget(np.arange(20, 30))  # no test slice: non-members from the whole test set
    sample = inspection_sample(data, forget, seed=9, per_side=4)
    rng = np.random.default_rng(9)
    assert sample.forget_idx.tolist() == np.sort(rng.choice(np.arange(20, 30), 4, replace=False)).tolist()
    assert sample.test_idx.tolist() == np.sort(rng.choice(np.arange(12), 4, replace=False)).tolist()
    assert sample.nonmember_idx.tolist() == np.sort(rng.choice(np.arange(12), 4, replace=False)).tolist()
    assert sample.nonmember_is_slice is False and sample.forget_idx.dtype == np.int64
    exact = inspection_sample(data, _forget(np.arange(20, 24)), seed=9, per_side=4)  # forget pool == 4
    rng = np.random.default_rng(9)
    assert exact.forget_idx.tolist() == [20, 21, 22, 23]
    assert exact.test_idx.tolist() == np.sort(rng.choice(np.arange(12), 4, replace=False)).tolist()
    # a one-image slice is no slice: the non-members are the whole test set
    one = inspection_sample(data, _forget([1, 2], np.array([5])), seed=0, per_side=20)
    assert one.nonmember_is_slice is False and one.nonmember_idx.tolist() == list(range(12))
    assert one.test_idx.tolist() == [i for i in range(12) if i != 5]


def test_inspection_sample_refusals() -> None:
    data = SimpleNamespace(test=[None] * 4)
    with pytest.raises(ValueError, match=exactly("the inspection sample needs at least 2 images per side; got 1")):
        inspection_sample(data, _forget([1, 2]), per_side=1)
    assert len(inspection_sample(data, _forget([1, 2, 3]), per_side=2).forget_idx) == 2
    with pytest.raises(ValueError, match=exactly("the forget set 'class:9' is empty: nothing to inspect")):
        inspection_sample(data, _forget(np.zeros(0, dtype=int), spec="class:9"))


# -- relearn time estimate, shots ----------------------------------------------------------------
def test_estimate_relearn_seconds_counts_a_step_as_three_forward_passes(monkeypatch) -> None:
    """With a clock that says the training batch's forward pass took 2 s and the evaluation 5 s:
    n_models x (steps x 3 x 2 + (steps + 1) x 5) = 3 x (4 x 6 + 5 x 5) = 147 s."""
    from unlearn_core.inspect import relearn

    ticks = iter([10.0, 12.0, 20.0, 25.0])
    monkeypatch.setattr(relearn.time, "perf_counter", lambda: next(ticks))
    model = _identity_classifier().train()
    got = relearn.estimate_relearn_seconds(model, torch.zeros(2, 2), torch.zeros(3, 2), steps=4, n_models=3, device=CPU)
    assert got == 147.0
    assert model.training  # a copy was put in eval mode, not the caller's model


def test_split_shots_refuses_no_shots() -> None:
    with pytest.raises(ValueError, match=exactly("shots must be at least 1; got 0")):
        split_shots(np.arange(10), 0, seed=0)
    train, held_out = split_shots(np.arange(10, 12), 1, seed=0)  # the smallest split: 1 + 1
    assert len(train) == 1 and len(held_out) == 1 and sorted([*train, *held_out]) == [10, 11]


# -- CKA layers ----------------------------------------------------------------------------------
def test_centred_gram_known_answer_and_layers_of_a_model() -> None:
    x = torch.tensor([[0.0, 5.0], [1.0, 5.0], [2.0, 5.0]])  # the constant column centres to 0
    assert centred_gram(x).tolist() == [[1.0, 0.0, -1.0], [0.0, 0.0, 0.0], [-1.0, 0.0, 1.0]]
    assert centred_gram(x).dtype == torch.float64
    model = nn.Module()
    model.features = nn.Sequential(nn.Conv2d(1, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(2, 2))
    layers = feature_layers(model)
    assert [name for name, _ in layers] == ["features.0", "features.3", "penultimate"]
    assert layers[-1][1] is model.features
    g = centred_gram(torch.rand(6, 3, generator=torch.Generator().manual_seed(0)))
    a = LayerGrams(["features.0", "penultimate"], [g, 2 * g])
    b = LayerGrams(["features.0", "features.1"], [g, g])
    with pytest.raises(ValueError, match=exactly("the models have different layers: ['features.0', 'penultimate'] vs ['features.0', 'features.1']")):
        cka_per_layer(a, b)
    assert cka_per_layer(a, a) == pytest.approx([1.0, 1.0], abs=1e-12)
    assert cka_per_layer(a, a, debiased=True) == pytest.approx([1.0, 1.0], abs=1e-12)


def test_layer_grams_batches_alike_and_restores_the_mode() -> None:
    torch.manual_seed(0)
    model = nn.Module()
    model.features = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(inplace=True), nn.Linear(3, 2))
    model.train()
    x = torch.rand(7, 1, 2, 2, generator=torch.Generator().manual_seed(1))
    whole = layer_grams(model, x, device=CPU)
    batched = layer_grams(model, x, device=CPU, batch_size=3)
    assert whole.names == ["features.1", "features.3", "penultimate"] and model.training
    for g, h in zip(whole.grams, batched.grams, strict=True):
        assert torch.allclose(g, h, atol=1e-12)
    with torch.no_grad():
        expected = centred_gram(model.features[1](x.flatten(1)))  # read before the in-place ReLU
    assert torch.allclose(whole.grams[0], expected, atol=1e-6)


# -- the probe -----------------------------------------------------------------------------------
def test_probe_images_of_a_slice_and_the_probe_size_refusal() -> None:
    test_x = torch.arange(6.0)[:, None]
    data = SimpleNamespace(test=SimpleNamespace(subset=lambda idx: SimpleNamespace(x=test_x[torch.as_tensor(idx)])))
    sample = InspectionSample(np.array([0]), np.array([0, 1, 4]), np.array([2, 3]), True, 0)
    pos, neg, what = probe_images(data, _forget([0]), sample)
    assert pos.flatten().tolist() == [2.0, 3.0] and neg.flatten().tolist() == [0.0, 1.0, 4.0]
    assert what == "test images of the forgotten slice vs other test images"
    with pytest.raises(ValueError, match=exactly("the probe needs at least 4 images on each side; got 3 and 5")):
        probe_accuracy(_identity_classifier(), torch.zeros(3, 2), torch.zeros(5, 2), device=CPU)
    with pytest.raises(ValueError, match=exactly("the probe needs at least 4 images on each side; got 5 and 3")):
        probe_accuracy(_identity_classifier(), torch.zeros(5, 2), torch.zeros(3, 2), device=CPU)


# -- A vs B: the rows, the models, the text ------------------------------------------------------
def test_metric_rows_directions_ties_and_missing_values() -> None:
    a = {"details": {"unlearned": {"forget_acc": 0.2}},
         "versus_retrain": {"avg_gap": 3.0, "tug_of_war": 0.5, "js_forget": 0.1}}
    b = {"details": {"unlearned": {"forget_acc": 0.2, "test_acc": 0.9}, "retrain": {"forget_acc": 0.1, "test_acc": 0.8}},
         "versus_retrain": {"avg_gap": 3.0, "tug_of_war": 0.7, "js_test": 0.2}}
    rows = {r["metric"]: r for r in metric_rows(a, b)}
    assert rows["forget_acc"] == {"metric": "forget_acc", "a": 0.2, "b": 0.2, "retrain": 0.1, "closer": "tie"}
    assert rows["test_acc"] == {"metric": "test_acc", "a": None, "b": 0.9, "retrain": 0.8, "closer": None}
    assert "retain_acc" not in rows  # nobody measured it
    assert rows["avg_gap"]["closer"] == "tie"
    assert rows["tug_of_war"] == {"metric": "tug_of_war", "a": 0.5, "b": 0.7, "retrain": None, "closer": "b"}
    assert rows["js_forget"]["closer"] is None and rows["js_test"]["closer"] is None
    a2 = {**a, "versus_retrain": {"js_forget": 0.1}}
    b2 = {**b, "versus_retrain": {"js_forget": 0.3}}
    assert {r["metric"]: r for r in metric_rows(a2, b2)}["js_forget"]["closer"] == "a"  # lower divergence
    assert metric_rows({}, {}) == []


def test_versus_models_and_run_info() -> None:
    m = {name: nn.Linear(1, 1) for name in ("orig", "ua", "ub", "ra", "rb")}
    run_a = SimpleNamespace(models={"original": m["orig"], "unlearned": m["ua"], "retrain": m["ra"]})
    run_b = SimpleNamespace(models={"original": m["orig"], "unlearned": m["ub"], "retrain": m["rb"]})
    got = versus_models(run_a, run_b)
    assert list(got) == ["original", "a", "b", "retrain"]
    assert got["a"] is m["ua"] and got["b"] is m["ub"] and got["retrain"] is m["ra"] and got["original"] is m["orig"]
    no_a_retrain = SimpleNamespace(models={"original": m["orig"], "unlearned": m["ua"]})
    assert versus_models(no_a_retrain, run_b)["retrain"] is m["rb"]
    no_b = SimpleNamespace(models={"unlearned": m["ub"]})
    assert "retrain" not in versus_models(no_a_retrain, no_b)
    entry = SimpleNamespace(id="r7", info={"method": "salun", "config": None, "forget": "class:3", "seed": 2})
    assert versus._run_info(SimpleNamespace(entry=entry)) == {"run_id": "r7", "method": "salun", "config": {},
                                                              "forget": "class:3", "seed": 2}


def test_versus_text_lines() -> None:
    versus_result = {
        "a": {"run_id": "r1", "method": "salun", "forget": "class:3"}, "b": {"run_id": "r2", "method": "rfa"},
        "metrics": [{"metric": "forget_acc", "a": 0.1, "b": None, "retrain": 0.0, "closer": None},
                    {"metric": "test_acc", "a": 0.9, "b": 0.85, "retrain": 0.88, "closer": "a"}],
        "agreement": 0.75, "disagreement": [{"train_index": i} for i in (9, 4, 7, 1, 3, 8)],
    }
    assert versus_text(versus_result).splitlines() == [
        "A = run r1 (salun), B = run r2 (rfa), forgetting class:3",
        "metric: A / B / retrained (closer to retraining)",
        "  forget_acc         0.100 / – / 0.000 (–)",
        "  test_acc           0.900 / 0.850 / 0.880 (a)",
        "A and B predict alike on 0.750 of the forget samples; most disagreed on: #9, #4, #7, #1, #3",
    ]
    with_study = {**versus_result, "agreement": None,
                  "study": {"k": {"a": 8, "b": 4}, "differ_on": ["forget_acc", "test_acc"]}}
    lines = versus_text(with_study).splitlines()
    assert lines[-2].startswith("A and B predict alike on – of")
    assert lines[-1] == "seed studies (K = 8 / 4): A and B differ beyond noise on forget_acc, test_acc"
    assert versus_text({**with_study, "study": {"k": {"a": 8, "b": 8}, "differ_on": []}}).endswith("on no metric")


def test_study_versus_skips_metrics_one_study_lacks_and_empty_values() -> None:
    a = {"k": 4, "unlearned": {"forget_acc": {"values": [None, None]}, "test_acc": {"values": [0.9] * 4},
                               "retain_acc": {"values": [1.0] * 4}},
         "retrain": {"test_acc": {"mean": 0.9}}}
    b = {"k": 5, "unlearned": {"forget_acc": {"values": [0.1] * 5}, "test_acc": {"values": [0.9] * 5}}}
    out = study_versus(a, b)
    rows = {r["metric"]: r for r in out["metrics"]}
    assert list(rows) == ["forget_acc", "test_acc"] and out["k"] == {"a": 4, "b": 5}
    assert rows["forget_acc"]["p_value"] is None and rows["forget_acc"]["differ"] is None
    assert rows["forget_acc"]["difference"] is None and rows["forget_acc"]["a"]["mean"] is None
    assert rows["forget_acc"]["retrain"] is None and rows["test_acc"]["retrain"] == {"mean": 0.9}
    assert rows["test_acc"]["p_value"] == 1.0 and rows["test_acc"]["differ"] is False
    assert rows["test_acc"]["difference"] == 0.0 and rows["test_acc"]["b"]["values"] == [0.9] * 5
    assert out["differ_on"] == [] and out["alpha"] == 0.05 and out["min_gap"] == 0.005
    assert study_versus(None, b) is None


# -- A vs B end to end on a toy dataset and three linear models -----------------------------------
class _Toy(nn.Module):
    """features = Flatten + Linear(2, 3) (logits W x + b); head = identity: the logits are the
    features, so every prediction can be read off by hand."""

    def __init__(self, bias_1: float) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(2, 3))
        self.features[1].weight.data = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
        self.features[1].bias.data = torch.tensor([0.0, bias_1, 0.0])
        self.head = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _toy_runs():
    """Class 1 forgotten: its four train images (0, 1), (0, 2), (1, 0), (0, 3). The original model
    predicts them 1, 1, 0, 1; A (class-1 bias -10) predicts all four 0; B (bias +10) all 1; the
    retrained model is A's twin."""
    from unlearn_core.data import Split, SplitDataset

    pts = [(0, 1), (2, 0), (0, 2), (3, 1), (1, 0), (-1, -2), (0, 3), (-2, -1), (4, 0), (-3, -3), (1, 5), (5, 2)]
    labels = [1, 0, 1, 0, 1, 2, 1, 2, 0, 2, 0, 0]
    x = torch.tensor(pts, dtype=torch.float32)[:, None, None, :]
    test_x = torch.tensor([(0, 2), (3, 0), (-1, -1), (0, 4), (2, 1), (-2, -2), (0, 5), (6, 0), (-4, -1)],
                          dtype=torch.float32)[:, None, None, :]
    test_y = torch.tensor([1, 0, 2, 1, 0, 2, 1, 0, 2])
    data = SplitDataset("toy", Split(x, torch.tensor(labels)), Split(test_x, test_y), ["zero", "one", "two"])
    forget = ForgetSet("class:1", "class", np.array([0, 2, 4, 6]), np.array([1, 3, 5, 7, 8, 9, 10, 11]), (1,),
                       np.array([0, 3, 6]))
    info = {"dataset": "toy", "forget": "class:1", "seed": 0, "config": {"lr": 0.1},
            "details": {"unlearned": {"forget_acc": 0.0, "per_class_test_acc": [1.0, 0.0, 1.0]},
                        "retrain": {"forget_acc": 0.0, "per_class_test_acc": [1.0, 0.0, 1.0]}}}
    original, retrain = _Toy(0.0), _Toy(-10.0)
    run_a = SimpleNamespace(entry=SimpleNamespace(id="A", info={**info, "method": "m_a"}), data=data, forget=forget,
                            seed=0, models={"original": original, "unlearned": _Toy(-10.0), "retrain": retrain})
    info_b = {**info, "method": "m_b", "details": {"unlearned": {"forget_acc": 1.0, "per_class_test_acc": [1.0, 1.0, 1.0]}}}
    run_b = SimpleNamespace(entry=SimpleNamespace(id="B", info=info_b), data=data, forget=forget, seed=0,
                            models={"original": original, "unlearned": _Toy(10.0)})
    return run_a, run_b


def test_versus_inspection_on_toy_runs_known_predictions() -> None:
    run_a, run_b = _toy_runs()
    out = versus.versus_inspection(run_a, run_b, device=CPU, per_side=4, k=3, projection="pca")
    assert out["a"] == {"run_id": "A", "method": "m_a", "config": {"lr": 0.1}, "forget": "class:1", "seed": 0}
    assert out["b"]["run_id"] == "B" and out["b"]["method"] == "m_b"
    # four forget images, four of the six test images outside the slice, the three slice images
    assert out["sample"] == {"n_forget": 4, "n_test": 4, "n_nonmember": 3, "seed": 0}
    pm = out["prediction_matrix"]
    assert pm["classes"] == ["zero", "one", "two"] and pm["n"] == 4
    assert pm["original"] == [[1, 0, 0], [0, 3, 0], [0, 0, 0]]
    assert pm["a"] == [[1, 0, 0], [3, 0, 0], [0, 0, 0]] and pm["retrain"] == pm["a"]
    assert pm["b"] == [[0, 1, 0], [0, 3, 0], [0, 0, 0]]
    assert out["agreement"] == 0.0  # A says 0 wherever B says 1
    assert [r["predictions_differ"] for r in out["disagreement"]] == [True, True, True]
    assert {r["a_prediction"] for r in out["disagreement"]} == {0} and {r["b_prediction"] for r in out["disagreement"]} == {1}
    assert out["disagreement_rule"] == versus.DISAGREEMENT_RULE
    assert out["metrics"][0] == {"metric": "forget_acc", "a": 0.0, "b": 1.0, "retrain": 0.0, "closer": "a"}
    assert out["per_class"] == {"classes": ["zero", "one", "two"], "a": [1.0, 0.0, 1.0], "b": [1.0, 1.0, 1.0],
                                "retrain": [1.0, 0.0, 1.0]}
    # scaled confidence of the true label 1 under A on (0, 1): logits (0, -9, -1) -> -9 - ln(1 + e^-1)
    assert out["scaled_confidence"]["a"]["forget"][0] == pytest.approx(-9 - math.log(1 + math.exp(-1)), abs=1e-5)
    assert set(out["scaled_confidence"]) == {"original", "a", "b", "retrain"}
    assert len(out["scaled_confidence"]["b"]["nonmember"]) == 3
    assert set(out["membership"]) == {"confidence", "loss", "scaled_confidence", "entropy"}
    assert out["membership"]["confidence"]["a"] == out["membership"]["confidence"]["retrain"]  # twins
    assert out["membership"]["confidence"]["b"]["accuracy"] == pytest.approx(best_attack(
        sample_scores(_Toy(10.0)(run_a.data.train.x[[0, 2, 4, 6]]).detach(), torch.tensor([1, 1, 1, 1]),
                      _Toy(10.0)(run_a.data.test.x[[0, 3, 6]]).detach(), torch.tensor([1, 1, 1])),
        "confidence")["accuracy"])
    layers = out["layers"]
    assert set(layers) == {"a", "b"} and [row["name"] for row in layers["a"]] == ["features.1", "penultimate"]
    assert layers["a"][0]["cka_vs_retrain"] == pytest.approx(1.0)  # A and its twin
    proj = out["projection"]
    assert proj["projection"] == "pca" and proj["n_forget"] == 4 and proj["train_index"] == [0, 2, 4, 6]
    assert proj["labels"] == [1, 1, 1, 1, *[int(v) for v in run_a.data.test.y[out_test_idx(run_a)]]]
    assert proj["coords"]["a"] == proj["coords"]["retrain"] and len(proj["coords"]["original"]) == 8
    no_extras = versus.versus_inspection(run_a, run_b, device=CPU, per_side=4, k=1, projection=None, layers=False)
    assert no_extras["projection"] is None and no_extras["layers"] is None and len(no_extras["disagreement"]) == 1


def out_test_idx(run) -> np.ndarray:
    """The inspection sample's test images of the toy runs (seed 0, 4 per side)."""
    return inspection_sample(run.data, run.forget, seed=0, per_side=4).test_idx


def test_versus_inspection_refuses_runs_of_another_forget_set() -> None:
    run_a, run_b = _toy_runs()
    run_b.entry.info = {**run_b.entry.info, "forget": "class:2"}
    with pytest.raises(ValueError, match=exactly("runs A and B cannot be compared: the runs differ in forget ('class:1' vs 'class:2')")):
        versus.versus_inspection(run_a, run_b, device=CPU, per_side=4)


# -- second round: what the first mutation run of these modules left alive -----------------------
def test_stratified_negatives_draws_without_replacement() -> None:
    """Two class-1 positives, four class-1 pool samples: default_rng(2) draws 8 and 9 without
    replacement (with replacement the same generator would give 8 and 13)."""
    labels = np.array([0, 0, 1, 2, 0, 0, 1, 1, 1, 1, 2, 0, 0, 1, 2])
    pool = np.array([7, 8, 9, 13])
    expected = np.sort(np.random.default_rng(2).choice(pool, 2, replace=False))
    assert stratified_negatives(labels, [2, 6], pool, seed=2).tolist() == expected.tolist() == [8, 9]


class _FlatFeatures(nn.Module):
    """features = the flattened input, so a probe reads the raw numbers."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Flatten()
        self.head = nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def test_probe_accuracy_is_the_probes_held_out_accuracy_with_its_seed() -> None:
    """Separable features (x0 = +1 vs -1): held-out accuracy 1.0 (not the probe's sample size);
    four images a side is enough. On overlapping features the result is `train_probe`'s on the
    same features with the same seed (0 by default), which differs between seeds 0 and 1."""
    from unlearn_core.concepts.bank import train_probe

    model = _FlatFeatures()
    sep_pos = torch.tensor([[1.0, 0.1], [1.0, -0.2], [1.0, 0.3], [1.0, 0.0], [1.0, 0.5], [1.0, -0.4]])
    sep_neg = -sep_pos
    assert probe_accuracy(model, sep_pos, sep_neg, device=CPU) == 1.0
    assert probe_accuracy(model, sep_pos[:4], sep_neg[:4], device=CPU) == 1.0  # the minimum, 4 a side
    rng = np.random.default_rng(0)
    pos, neg = rng.normal(0.3, 1, (20, 2)), rng.normal(0, 1, (20, 2))
    by_seed = [train_probe(pos, neg, seed=s)[2] for s in (0, 1)]
    assert by_seed == [5 / 12, 2 / 3]
    got = [probe_accuracy(model, torch.tensor(pos, dtype=torch.float32), torch.tensor(neg, dtype=torch.float32),
                          device=CPU, seed=s) for s in (0, 1)]
    assert got == pytest.approx(by_seed)
    assert probe_accuracy(model, torch.tensor(pos, dtype=torch.float32), torch.tensor(neg, dtype=torch.float32),
                          device=CPU) == pytest.approx(by_seed[0])
    assert probe_accuracy(model, torch.tensor(neg, dtype=torch.float32), torch.tensor(pos, dtype=torch.float32),
                          device=CPU) == pytest.approx(train_probe(neg, pos, seed=0)[2])


def test_probe_images_without_a_slice_are_forget_against_stratified_retain() -> None:
    """Forget samples 0, 1, 3 (classes 0, 1, 1) against retain samples of the same classes drawn
    with the sample's seed + 1 (5): class 0 one of 2, 4, 6, 10..13 and class 1 two of 5, 7, 14, 15;
    default_rng(5) picks 11, then 5 and 14 (seeds 3, 4 and 6 pick other samples)."""
    labels = torch.tensor([0, 1, 0, 1, 0, 1, 0, 1, 2, 2, 0, 0, 0, 0, 1, 1])
    train_x = torch.arange(16.0)[:, None] * 10
    train = SimpleNamespace(y=labels, subset=lambda idx: SimpleNamespace(x=train_x[torch.as_tensor(idx)]))
    forget = ForgetSet("random:x", "random", np.array([0, 1, 3]), np.array([2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]))
    sample = InspectionSample(np.array([0, 1, 3]), np.array([0]), np.array([0]), False, 4)
    pos, neg, what = probe_images(SimpleNamespace(train=train), forget, sample)
    assert what == "forget samples vs retain samples of the same classes"
    assert pos.flatten().tolist() == [0.0, 10.0, 30.0]
    assert neg.flatten().tolist() == [50.0, 110.0, 140.0]
    for other in (3, 4, 6):
        assert stratified_negatives(labels.numpy(), np.array([0, 1, 3]), forget.retain_idx, seed=other).tolist() \
            != [5, 11, 14]


def test_still_remembered_default_k_zero_excess_and_stable_ties() -> None:
    """Excesses 1 - d for d = 3/8, 1/16, 3/8, 1/32, 1/4, 1/4, 1/2, 1/2, 1/8, 1/64 (exact in binary):
    largest first, ties in position order (a non-stable sort swaps 4 and 5); a zero excess is not
    "remembered"; at most 20 rows by default."""
    d = np.array([3 / 8, 1 / 16, 3 / 8, 1 / 32, 1 / 4, 1 / 4, 1 / 2, 1 / 2, 1 / 8, 1 / 64])
    zero = np.zeros(len(d))
    s = {"unlearned": SampleScores(1 - d, zero, zero.astype(int), np.ones(1), np.ones(1)),
         "retrain": SampleScores(zero.copy(), zero, zero.astype(int), np.ones(1), np.ones(1))}
    ranked = still_remembered(s, np.arange(100, 110))
    assert [r["position"] for r in ranked] == [9, 3, 1, 8, 4, 5, 0, 2, 6, 7]
    s["retrain"] = SampleScores(1 - d, zero, zero.astype(int), np.ones(1), np.ones(1))  # every excess 0
    assert still_remembered(s, np.arange(100, 110)) == []
    many = np.linspace(0.5, 0.9, 25)
    s25 = {"unlearned": SampleScores(many, np.zeros(25), np.zeros(25, dtype=int), np.ones(1), np.ones(1)),
           "retrain": SampleScores(np.zeros(25), np.zeros(25), np.zeros(25, dtype=int), np.ones(1), np.ones(1))}
    assert [r["position"] for r in still_remembered(s25, np.arange(25))] == list(range(24, 4, -1))
    with pytest.raises(ValueError, match="^the still-remembered list needs the unlearned and the retrained model$"):
        still_remembered({"unlearned": s25["unlearned"]}, np.arange(25))


def test_relearn_summary_of_no_steps_is_empty() -> None:
    assert relearn_summary({"steps": []}) == {}


def test_prediction_matrix_reads_class_ids_of_any_numeric_dtype() -> None:
    """Predictions stored as floats (e.g. read back from JSON) are class ids all the same."""
    assert prediction_matrix(np.array([0.0, 2.0]), np.array([2, 2]), 3).tolist() == [[0, 0, 1], [0, 0, 0], [0, 0, 1]]
    assert prediction_matrix(np.array([0, 2]), np.array([1.0, 2.0]), 3).tolist() == [[0, 1, 0], [0, 0, 0], [0, 0, 1]]


def test_inspection_sample_default_seed_and_index_dtype() -> None:
    data = SimpleNamespace(test=[None] * 12)
    forget = _forget(np.arange(20, 30, dtype=np.int32), np.array([0, 1, 2], dtype=np.int32))
    default = inspection_sample(data, forget, per_side=4)
    explicit = inspection_sample(data, forget, per_side=4, seed=0)
    assert default.forget_idx.tolist() == explicit.forget_idx.tolist() and default.seed == 0
    assert default.forget_idx.tolist() != inspection_sample(data, forget, per_side=4, seed=1).forget_idx.tolist()
    for field in (default.forget_idx, default.test_idx, default.nonmember_idx):
        assert field.dtype == np.int64  # int32 pools come back as int64 indices
    assert inspection_sample(data, forget, per_side=40).nonmember_idx.dtype == np.int64  # taken whole, too


def test_cka_per_layer_estimators_and_strict_pairing() -> None:
    gen = torch.Generator().manual_seed(5)
    g1 = centred_gram(torch.rand(8, 3, generator=gen))
    g2 = centred_gram(torch.rand(8, 4, generator=gen))
    a, b = LayerGrams(["l"], [g1]), LayerGrams(["l"], [g2])
    biased, debiased = linear_cka_gram(g1, g2), linear_cka_gram(g1, g2, debiased=True)
    assert abs(biased - debiased) > 0.05  # the two estimators differ on 8 samples
    assert cka_per_layer(a, b) == [biased]
    assert cka_per_layer(a, b, debiased=True) == [debiased]
    with pytest.raises(ValueError):  # one Gram for two named layers: refused, not truncated
        cka_per_layer(LayerGrams(["l", "m"], [g1]), LayerGrams(["l", "m"], [g2, g2]))


def test_layer_grams_keep_float32_copies_of_a_float64_model() -> None:
    """The captured activations are float32 copies (as documented), whatever the model's dtype."""
    model = nn.Module()
    model.features = nn.Sequential(nn.Flatten(), nn.Linear(4, 3)).double()
    x = torch.rand(6, 1, 2, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    grams = layer_grams(model, x, device=CPU)
    with torch.no_grad():
        expected = centred_gram(model.features[1](x.flatten(1)).float())
    assert torch.equal(grams.grams[0], expected)


def test_sample_scores_scaled_confidence_comes_from_the_logits() -> None:
    """Logits (40, 0) with label 0: p_y rounds to 1 in float64, so log(p / (1 - p)) from the
    confidence would be +inf; from the logits it is exactly 40 - ln(e^0) = 40, on both sides."""
    logits, y = torch.tensor([[40.0, 0.0]]), torch.tensor([0])
    s = sample_scores(logits, y, logits, y)
    assert s.forget("scaled_confidence").tolist() == [40.0]
    assert s.nonmember("scaled_confidence").tolist() == [40.0]


def test_attack_at_defaults_to_the_confidence_and_is_quiet_on_an_empty_side() -> None:
    f, t = np.array([0.9, 0.8, 0.3]), np.array([0.2, 0.85])
    s = SampleScores(f, -np.log(f), np.zeros(3, dtype=int), t, -np.log(t))
    assert attack_at(s, 0.5) == attack_at(s, 0.5, "confidence") == {"accuracy": (2 / 3 + 0.5) / 2, "tpr": 2 / 3,
                                                                      "fpr": 0.5}
    empty_test = SampleScores(f, -np.log(f), np.zeros(3, dtype=int), np.zeros(0), np.zeros(0))
    empty_forget = SampleScores(np.zeros(0), np.zeros(0), np.zeros(0, dtype=int), t, -np.log(t))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NaN by rule, not the mean of an empty array
        assert math.isnan(attack_at(empty_test, 0.5)["fpr"]) and math.isnan(attack_at(empty_forget, 0.5)["tpr"])


def test_relearn_finetunes_with_the_relearn_recipe() -> None:
    """Full-batch steps of the given size, constant learning rate, no weight decay, the run's seed."""
    from unlearn_core.inspect import relearn
    from unlearn_core.train import TrainConfig

    assert relearn._config(3, 0.01, 16, 2) == TrainConfig(epochs=3, lr=0.01, batch_size=16, schedule="constant",
                                                          weight_decay=0.0, seed=2)


def test_relearn_keeps_batchnorm_statistics_fixed() -> None:
    """BatchNorm (running mean 0, variance 1: the identity at eval) before the identity classifier;
    the learning rate is too small to move a weight. (1, 1.5) with label 1 is right before and
    stays right. Finetuning in train mode on (0, 9), (0, 11) would move the running statistics to
    mean (0, 1), variance (0.9, 1.1), and (1, 1.5) would read (1.05, 0.48): class 0, wrong."""
    model = nn.Sequential(nn.Flatten(), nn.BatchNorm1d(2), nn.Linear(2, 2, bias=False)).eval()
    model[2].weight.data = torch.eye(2)
    x_train, y_train = torch.tensor([[0.0, 9.0], [0.0, 11.0]]), torch.tensor([1, 1])
    curve = relearn_curve(model, x_train, y_train, torch.tensor([[1.0, 1.5]]), torch.tensor([1]), steps=1,
                          lr=1e-9, device=CPU)
    assert curve == [1.0, 1.0]
    assert model[1].running_mean.tolist() == [0.0, 0.0]  # the caller's model, untouched either way


def test_linear_cka_gram_of_unit_norm_grams() -> None:
    """A Gram matrix of Frobenius norm exactly 1 ([[1/2, -1/2], [-1/2, 1/2]]): CKA with itself is
    1 (only a zero norm means a constant representation and NaN)."""
    k = torch.tensor([[0.5, -0.5], [-0.5, 0.5]], dtype=torch.float64)
    assert float(torch.linalg.norm(k)) == 1.0
    assert linear_cka_gram(k, k) == 1.0
    assert math.isnan(linear_cka_gram(k, torch.zeros(2, 2, dtype=torch.float64)))


def test_study_of_finds_the_newest_study_of_the_same_method_settings_and_revision(tmp_path) -> None:
    """A run's study: same request (data, model, forget set, seed), same method, same settings
    (compared as canonical JSON, so key order does not matter) and same defaults revision (1 when
    absent); the newest such study wins; None without every request field."""
    from unlearn_core.workspace.store import Workspace
    from unlearn_core.workspace.studies import save_study

    workspace = Workspace(tmp_path / "ws")
    request = {"dataset": "digits", "data_fingerprint": "fp", "model_digest": "md", "forget": "class:3", "seed": 0}
    scores = {"unlearned": np.zeros((2, 1)), "retrain": np.zeros((2, 1))}

    def store(method, config, revision=None, key="k"):
        result = {**request, "method": method, "config": config, "k": 4}
        if revision is not None:
            result["method_revision"] = revision
        return save_study(workspace, result, scores, key)

    old = store("salun", {"lr": 0.1, "epochs": 2})
    store("salun", {"lr": 0.2, "epochs": 2})
    store("rfa", {"lr": 0.1, "epochs": 2})
    store("salun", {"epochs": 2, "lr": 0.1}, revision=2)
    run = {**request, "method": "salun", "config": {"epochs": 2, "lr": 0.1}}
    assert versus.study_of(workspace, run).id == old.id
    newer = store("salun", {"lr": 0.1, "epochs": 2}, revision=1)
    assert versus.study_of(workspace, run).id == newer.id
    assert versus.study_of(workspace, {**run, "method_revision": 2}).info["method_revision"] == 2
    assert versus.study_of(workspace, {**run, "method": "scrub"}) is None
    assert versus.study_of(workspace, {**run, "config": {"lr": 0.3}}) is None
    assert versus.study_of(workspace, {k: v for k, v in run.items() if k != "seed"}) is None
    assert versus._canonical(None) == "{}" and versus._canonical({"b": 1, "a": 2}) == '{"a": 2, "b": 1}'


def test_closer_edges_and_study_versus_with_missing_parts() -> None:
    assert versus._closer(0.1, None, 0.0) is None and versus._closer(None, 0.1, 0.0) is None
    assert versus._closer(0.1, 0.2, None) is None
    assert versus._closer(1e-9, 0.0, 0.0) == "b"  # a difference of exactly 1e-9 is no tie
    assert versus._closer(0.0, 0.0, 0.5) == "tie"
    b = {"k": 4, "unlearned": {"test_acc": {"values": [0.9] * 4}}}
    a = {"k": 4, "unlearned": {"forget_acc": {"values": [0.1] * 4}, "test_acc": {}}}  # no retrain, no values
    out = versus.study_versus(a, b)
    assert [r["metric"] for r in out["metrics"]] == ["test_acc"]  # forget_acc (not in B) skipped, not the end
    row = out["metrics"][0]
    assert row["retrain"] is None and row["p_value"] is None and row["a"]["values"] == []
    assert versus.study_versus({"k": 4}, b)["metrics"] == [] and versus.study_versus(b, {"k": 4})["metrics"] == []


def test_projection_view_defaults_to_pca() -> None:
    run_a, _ = _toy_runs()
    view = versus.projection_view(run_a, {"original": run_a.models["original"]}, np.array([0, 2]), np.array([1]),
                                  device=CPU)
    assert view["projection"] == "pca" and view["n_forget"] == 2 and view["labels"] == [1, 1, 0]
