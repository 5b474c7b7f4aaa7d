"""Evaluate one model on a forget set, and compare an unlearned model with the retrained one.

`evaluate_model` predicts the train set and the test set once (plus the backdoor split when the
dataset has one) and derives every figure from those logits:

- ``forget_acc`` (FA) on D_f; ``retain_acc`` (RA) on all of D_r;
- ``test_acc`` (TA) on the test samples *outside* the forgotten slice when the forget set has a
  test counterpart (class and concept forgetting: "test accuracy on the kept classes"), on the
  whole test set otherwise; ``test_acc_all`` always on the whole test set;
- ``forget_test_acc`` on the forgotten slice of the test set (None without a counterpart);
- ``mia_efficacy``: SalUn's SVC attack (retain members vs whole-test non-members, see mia.py);
  ``mia_attack_acc``: that attack's accuracy on the samples it was fitted on (near 0.5: at chance);
- ``loss_mia_auc``: loss-threshold attack, D_f as members vs the test counterpart (SCRUB's
  restriction to the forgotten classes) or the whole test set when there is none;
- ``backdoor_asr`` on ``dataset.extras["backdoor_test"]`` when the dataset has a backdoor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from unlearn_core.device import on_device
from unlearn_core.forget import UnlearnData
from unlearn_core.metrics.definitions import HEADLINE_KEYS, METRICS, Predictions
from unlearn_core.metrics.divergence import js_divergence
from unlearn_core.metrics.mia import MAX_PER_SIDE, loss_threshold_mia, per_sample_loss, svc_mia, true_label_confidence
from unlearn_core.metrics.scores import avg_gap, tug_of_war
from unlearn_core.train import per_class_accuracy, predict_logits


def _clean(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


@dataclass
class ModelEval:
    """One model's figures on one forget set (fractions in [0, 1]; see the module docstring).

    `values` holds every metric of the table (definitions.py) by key, also readable as an
    attribute (``ev.forget_acc``), so a metric registered there needs no field here.
    `forget_logits`, `test_logits` and `mia_scores` are kept for plots and divergences and are
    not serialised. `mia_scores` holds true-label confidences: ``"forget"`` (D_f), ``"retain"``
    (the seeded retain sample the attack drew from), ``"test"`` (whole test set), and the attack's
    membership probability per forget sample, ``"forget_member_prob"``.
    """

    values: dict[str, float | None]
    per_class_test_acc: list[float]
    forget_logits: torch.Tensor
    test_logits: torch.Tensor
    mia_scores: dict[str, np.ndarray]

    def __getattr__(self, name: str) -> float | None:
        values = self.__dict__.get("values")  # absent while copy / pickle rebuild the object
        if values is not None and name in values:
            return values[name]
        raise AttributeError(f"{type(self).__name__} has no attribute or metric {name!r}")

    def headline(self) -> dict[str, float | None]:
        """The five headline figures; NaN becomes None (e.g. forget_test_acc without a counterpart)."""
        return {key: _clean(self.values[key]) for key in HEADLINE_KEYS}

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: every metric of the table (definitions.py) and the per-class test accuracy."""
        return {
            **{m.key: _clean(self.values[m.key]) for m in METRICS.list()},
            "per_class_test_acc": [_clean(v) for v in self.per_class_test_acc],
        }


def evaluate_model(model: nn.Module, data: UnlearnData, *, device: torch.device, seed: int = 0) -> ModelEval:
    """Evaluate `model` on `data`'s forget set; `seed` drives the MIA attack's subsampling.

    The model predicts each split once; every registered metric is computed from those predictions.
    """
    dataset, forget = data.dataset, data.forget
    model = on_device(model, device)  # one copy for the three predictions when `model` lives elsewhere
    train_logits = predict_logits(model, dataset.train.x, device=device)  # [N_train, K]
    test_logits = predict_logits(model, dataset.test.x, device=device)  # [N_test, K]
    y_train, y_test = dataset.train.y, dataset.test.y
    n_test = len(y_test)
    has_slice = forget.test_forget_idx is not None

    forget_idx = torch.as_tensor(forget.forget_idx)
    conf_train = true_label_confidence(train_logits, y_train)
    conf_test = true_label_confidence(test_logits, y_test)
    retain_sample = forget.retain_idx
    if len(retain_sample) > MAX_PER_SIDE:
        retain_sample = np.sort(np.random.default_rng(seed).choice(retain_sample, size=MAX_PER_SIDE, replace=False))
    conf_forget, conf_retain = conf_train[forget.forget_idx], conf_train[retain_sample]
    attack = svc_mia(conf_retain, conf_test, conf_forget, seed=seed)

    test_slice = forget.test_forget_idx if has_slice and len(forget.test_forget_idx) else np.arange(n_test)
    loss_train = per_sample_loss(train_logits[forget_idx], y_train[forget_idx])
    loss_test = per_sample_loss(test_logits, y_test)[test_slice]

    triggered = dataset.extras.get("backdoor_test")
    has_backdoor = triggered is not None and dataset.backdoor_target is not None and len(triggered)
    predictions = Predictions(
        data, train_logits, test_logits, attack, loss_threshold_mia(loss_train, loss_test),
        predict_logits(model, triggered.x, device=device) if has_backdoor else None,
    )
    return ModelEval(
        values={m.key: m.compute(predictions) for m in METRICS.list()},
        per_class_test_acc=per_class_accuracy(test_logits, y_test, dataset.num_classes),
        forget_logits=train_logits[forget_idx],
        test_logits=test_logits,
        mia_scores={
            "forget": conf_forget,
            "retain": conf_retain,
            "test": conf_test,
            "forget_member_prob": attack.forget_member_prob,
        },
    )


def compare_to_retrain(unlearned: ModelEval, retrain: ModelEval) -> dict[str, float]:
    """Gaps of an unlearned model to the retrained one on the same forget set.

    ``avg_gap`` (points, lower is better), ``tug_of_war`` (1 = like Retrain), and the mean
    per-sample JS divergence of their predictions on D_f (``js_forget``) and on the test set
    (``js_test``), natural log, in [0, ln 2].
    """
    if unlearned.forget_logits.shape != retrain.forget_logits.shape:
        raise ValueError(
            "the two evaluations are on different forget sets: forget logits "
            f"{tuple(unlearned.forget_logits.shape)} vs {tuple(retrain.forget_logits.shape)}"
        )
    return {
        "avg_gap": avg_gap(unlearned, retrain),
        "tug_of_war": tug_of_war(unlearned, retrain),
        "js_forget": js_divergence(unlearned.forget_logits, retrain.forget_logits),
        "js_test": js_divergence(unlearned.test_logits, retrain.test_logits),
    }
