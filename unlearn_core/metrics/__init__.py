"""Evaluation, kept out of the methods: accuracies, membership inference, divergences, gaps to Retrain.

`definitions` is the table of metrics (name, help, how to read it, how it is computed) that
everything else reads; adding a metric is one `register_metric` call there.
`evaluate_model(model, data, device=...)` gives a `ModelEval` (headline figures: forget, retain,
test and forget-test accuracy, MIA-efficacy); `compare_to_retrain` scores an unlearned model
against the retrained one (average gap, Tug-of-War, JS divergences). The lower-level functions
work on plain logits, confidences or losses. Judging against several retrained models (the seed
study): `verdict` (a permutation test against retraining's spread, the noise floor) and `epsilon`
(the per-example ε and forgetting quality F of the NeurIPS 2023 unlearning challenge); import those
modules directly.
"""

from unlearn_core.metrics.definitions import HEADLINE_KEYS, METRICS, Metric, Predictions, metric_help, register_metric
from unlearn_core.metrics.divergence import js_divergence, js_per_sample, kl_divergence
from unlearn_core.metrics.evaluate import ModelEval, compare_to_retrain, evaluate_model
from unlearn_core.metrics.mia import (
    MIAResult,
    at_chance,
    loss_threshold_mia,
    mia_efficacy,
    per_sample_loss,
    scaled_confidence,
    svc_mia,
    true_label_confidence,
)
from unlearn_core.metrics.scores import (
    GAP_KEYS,
    avg_gap,
    avg_gap_informative,
    backdoor_asr,
    params_changed_frac,
    tug_of_war,
)

__all__ = [
    "GAP_KEYS",
    "HEADLINE_KEYS",
    "METRICS",
    "MIAResult",
    "Metric",
    "ModelEval",
    "Predictions",
    "at_chance",
    "avg_gap",
    "avg_gap_informative",
    "backdoor_asr",
    "compare_to_retrain",
    "evaluate_model",
    "js_divergence",
    "js_per_sample",
    "kl_divergence",
    "loss_threshold_mia",
    "metric_help",
    "mia_efficacy",
    "params_changed_frac",
    "per_sample_loss",
    "register_metric",
    "scaled_confidence",
    "svc_mia",
    "true_label_confidence",
    "tug_of_war",
]
