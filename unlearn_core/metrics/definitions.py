"""The table of evaluation metrics: one row per figure a run reports, read by everything that
names, serialises or explains one (`ModelEval.to_dict`, the headline of every run summary, the
CLI's and benchmark's tables, the Compare page's help).

Adding a metric: compute it in `evaluate.evaluate_model` (a `ModelEval` field of the same key)
and register its row here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..registry import Registry


@dataclass(frozen=True)
class Metric:
    """What a metric is called, what it measures and how to read it.

    `percent`: a fraction in [0, 1], shown in %. `headline`: one of the figures every run summary
    carries for the original, unlearned and retrained model (a CLI contract). `listed`: a row of
    the Compare page's metric table.
    """

    key: str
    label: str
    help: str
    direction: str
    percent: bool = True
    headline: bool = False
    listed: bool = True


METRICS: Registry[Metric] = Registry("metric")


def register_metric(metric: Metric) -> Metric:
    """Add a metric row (its key must be a `ModelEval` field)."""
    return METRICS.register(metric.key, metric)


_ROWS = [  # key, label, what it measures, how to read it, headline, listed on Compare
    ("forget_acc", "Forget accuracy", "accuracy on the forget set (train samples to forget)",
     "closer to retrain is better", True, True),
    ("retain_acc", "Retain accuracy", "accuracy on the rest of the train set",
     "closer to retrain is better (usually: higher)", True, True),
    ("test_acc", "Test accuracy", "accuracy on test samples outside the forgotten classes / concept",
     "closer to retrain is better", True, True),
    ("forget_test_acc", "Forgotten-slice test accuracy", "accuracy on test samples of the forgotten classes / concept",
     "closer to retrain is better (0 for class forgetting)", True, True),
    ("mia_efficacy", "MIA-efficacy", "share of forget samples a membership attack calls non-members (SalUn)",
     "closer to retrain is better", True, True),
    ("test_acc_all", "Test accuracy (whole test set)", "accuracy on the whole test set, forgotten slice included",
     "closer to retrain is better", False, False),
    ("loss_mia_auc", "Loss-attack AUC (train vs test)", "how well a loss threshold tells retain from test samples",
     "closer to retrain is better; 0.5 = no leak", False, True),
    ("backdoor_asr", "Backdoor success", "share of triggered test images sent to the backdoor's target",
     "lower is better when the backdoor is being removed", False, True),
]
for key, label, what, direction, headline, listed in _ROWS:
    register_metric(Metric(key, label, what, direction, headline=headline, listed=listed))

# The five figures of every run summary, in order (README: forget, retain, test, forget-test, MIA).
HEADLINE_KEYS: tuple[str, ...] = tuple(m.key for m in METRICS.list() if m.headline)


def metric_help() -> dict[str, tuple[str, str, str]]:
    """Key -> (label, what it measures, how to read it) for every metric the Compare table lists."""
    return {m.key: (m.label, m.help, m.direction) for m in METRICS.list() if m.listed}
