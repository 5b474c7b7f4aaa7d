"""The table of evaluation metrics: one row per figure a run reports, with the function that
computes it. Read by everything that computes, names, serialises or explains one
(`evaluate.evaluate_model`, `ModelEval.to_dict`, the headline of every run summary, the CLI's and
benchmark's tables, the Compare page's help).

Adding a metric is one call here: `register_metric(Metric(key, label, help, direction,
compute=...))`, where `compute` reads the model's predictions (`Predictions`: logits on the
train and test sets, true-label confidences, the membership attacks) and returns a float (or
None where the metric does not apply).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from unlearn_core.forget import UnlearnData
from unlearn_core.metrics.mia import MIAResult
from unlearn_core.metrics.scores import backdoor_asr
from unlearn_core.registry import Registry
from unlearn_core.train import accuracy


@dataclass(frozen=True)
class Predictions:
    """One model's predictions on a forget set's data, computed once by `evaluate_model`; every
    metric is a function of them.

    `attack` is SalUn's SVC membership attack on the true-label confidences; `loss_mia` the
    loss-threshold attack (D_f against the test counterpart); `backdoor_logits` the logits on the
    dataset's triggered test images (None without a backdoor).
    """

    data: UnlearnData
    train_logits: torch.Tensor
    test_logits: torch.Tensor
    attack: MIAResult
    loss_mia: dict[str, Any]
    backdoor_logits: torch.Tensor | None

    @property
    def has_slice(self) -> bool:
        """Whether the forget set has a test counterpart (class and concept forgetting)."""
        return self.data.forget.test_forget_idx is not None


@dataclass(frozen=True)
class Metric:
    """What a metric is called, what it measures, how to read it, and how it is computed.

    `percent`: a fraction in [0, 1], shown in %. `headline`: one of the figures every run summary
    carries for the original, unlearned and retrained model (a CLI contract). `listed`: a row of
    the Compare page's metric table. `compute`: the figure from a model's `Predictions`.
    """

    key: str
    label: str
    help: str
    direction: str
    compute: Callable[[Predictions], float | None]
    percent: bool = True
    headline: bool = False
    listed: bool = True


METRICS: Registry[Metric] = Registry("metric")


def register_metric(metric: Metric) -> Metric:
    """Add a metric row: `evaluate_model` computes it and every table shows it from then on."""
    return METRICS.register(metric.key, metric)


def _train_acc(p: Predictions, idx: np.ndarray) -> float:
    return accuracy(p.train_logits, p.data.dataset.train.y, idx)


def _test_acc(p: Predictions, idx: np.ndarray | None = None) -> float:
    return accuracy(p.test_logits, p.data.dataset.test.y, idx)


def _backdoor(p: Predictions) -> float | None:
    dataset = p.data.dataset
    if p.backdoor_logits is None:
        return None
    return backdoor_asr(p.backdoor_logits, dataset.backdoor_target, dataset.extras["backdoor_test"].y)


_ROWS = [  # key, label, what it measures, how to read it, compute, headline, listed on Compare
    ("forget_acc", "Forget accuracy", "accuracy on the forget set (train samples to forget)",
     "closer to retrain is better", lambda p: _train_acc(p, p.data.forget.forget_idx), True, True),
    ("retain_acc", "Retain accuracy", "accuracy on the rest of the train set",
     "closer to retrain is better (usually: higher)", lambda p: _train_acc(p, p.data.forget.retain_idx), True, True),
    ("test_acc", "Test accuracy", "accuracy on test samples outside the forgotten classes / concept",
     "closer to retrain is better", lambda p: _test_acc(p, p.data.forget.test_retain_idx(len(p.test_logits))),
     True, True),
    ("forget_test_acc", "Forgotten-slice test accuracy", "accuracy on test samples of the forgotten classes / concept",
     "closer to retrain is better (0 for class forgetting)",
     lambda p: _test_acc(p, p.data.forget.test_forget_idx) if p.has_slice else None, True, True),
    ("mia_efficacy", "MIA-efficacy", "share of forget samples a membership attack calls non-members (SalUn)",
     "closer to retrain is better", lambda p: p.attack.efficacy, True, True),
    ("mia_attack_acc", "MIA attack accuracy", "accuracy of MIA-efficacy's SVC attack on the retain (member) and test "
     "(non-member) samples it was fitted on", "near 50% the attack is at chance and MIA-efficacy is noise; below 50% too: "
     "it does no better than a coin, so its errors fall either way of 50%",
     lambda p: p.attack.attack_acc, False, True),
    ("test_acc_all", "Test accuracy (whole test set)", "accuracy on the whole test set, forgotten slice included",
     "closer to retrain is better", _test_acc, False, False),
    ("loss_mia_auc", "Loss-attack AUC (train vs test)", "how well a loss threshold tells retain from test samples",
     "closer to retrain is better; 0.5 = no leak", lambda p: p.loss_mia["auc"], False, True),
    ("backdoor_asr", "Backdoor success", "share of triggered test images sent to the backdoor's target",
     "lower is better when the backdoor is being removed", _backdoor, False, True),
]
for key, label, what, direction, compute, headline, listed in _ROWS:
    register_metric(Metric(key, label, what, direction, compute, headline=headline, listed=listed))

# The five figures of every run summary, in order (README: forget, retain, test, forget-test, MIA).
HEADLINE_KEYS: tuple[str, ...] = tuple(m.key for m in METRICS.list() if m.headline)


def metric_help() -> dict[str, tuple[str, str, str]]:
    """Key -> (label, what it measures, how to read it) for every metric the Compare table lists."""
    return {m.key: (m.label, m.help, m.direction) for m in METRICS.list() if m.listed}
