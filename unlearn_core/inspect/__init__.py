"""Inspection depth: is it really forgotten, per layer and per sample, beyond the outputs?

- `cka`: linear CKA per layer of the features (unlearned vs original and vs retrained), biased and
  debiased, read against a ceiling (retrained vs retrained, another seed) and a floor (untrained
  vs retrained);
- `predictions`: original -> unlearned and original -> retrained prediction matrices;
- `membership`: a threshold attack you can steer, over LiRA's scaled confidence or the prediction
  entropy (and the older confidence / loss, one attack with the scaled confidence);
- `persample`: one sample under the three models (with pixel IG) and the "still remembered" list;
- `probe`: can the forgotten class / concept be read out of the penultimate features?
- `relearn`: how fast a few finetuning steps bring the forget accuracy back;
- `inspection`: all of it for a stored run (the CLI's ``inspect``), on one seeded sample (`sample`).
"""

from unlearn_core.inspect.cka import feature_layers, layer_grams, linear_cka
from unlearn_core.inspect.inspection import (
    LayerSimilarity,
    LoadedRun,
    WorkEstimate,
    cka_references,
    estimate_layer_similarity,
    estimate_prediction_view,
    estimate_probe_view,
    inspect_run,
    layer_similarity,
    load_run,
    model_scores,
    prediction_view,
    probe_view,
    relearn_view,
    run_dataset,
    run_original,
    second_retrained,
    summary_text,
    untrained_model,
)
from unlearn_core.inspect.membership import (
    OFFERED,
    SampleScores,
    attack_at,
    best_attack,
    called_member,
    membership_score,
    nearest_to_threshold,
    prediction_entropy,
)
from unlearn_core.inspect.persample import SampleView, sample_view, still_remembered
from unlearn_core.inspect.predictions import PredictionMatrices, prediction_matrix
from unlearn_core.inspect.relearn import RelearnResult, estimate_relearn_seconds, relearn_test
from unlearn_core.inspect.sample import InspectionSample, inspection_sample

__all__ = [
    "OFFERED",
    "InspectionSample",
    "LayerSimilarity",
    "LoadedRun",
    "PredictionMatrices",
    "RelearnResult",
    "SampleScores",
    "SampleView",
    "WorkEstimate",
    "attack_at",
    "best_attack",
    "called_member",
    "cka_references",
    "estimate_layer_similarity",
    "estimate_prediction_view",
    "estimate_probe_view",
    "estimate_relearn_seconds",
    "feature_layers",
    "inspect_run",
    "inspection_sample",
    "layer_grams",
    "layer_similarity",
    "linear_cka",
    "load_run",
    "membership_score",
    "model_scores",
    "nearest_to_threshold",
    "prediction_entropy",
    "prediction_matrix",
    "prediction_view",
    "probe_view",
    "relearn_test",
    "relearn_view",
    "run_dataset",
    "run_original",
    "sample_view",
    "second_retrained",
    "still_remembered",
    "summary_text",
    "untrained_model",
]
