"""Inspection depth: is it really forgotten, per layer and per sample, beyond the outputs?

- `cka`: linear CKA per layer of the features (unlearned vs original and vs retrained);
- `predictions`: original -> unlearned and original -> retrained prediction matrices;
- `membership`: a threshold attack over true-label confidence or loss you can steer;
- `persample`: one sample under the three models (with pixel IG) and the "still remembered" list;
- `probe`: can the forgotten class / concept be read out of the penultimate features?
- `relearn`: how fast a few finetuning steps bring the forget accuracy back;
- `inspection`: all of it for a stored run (the CLI's ``inspect``), on one seeded sample (`sample`).
"""

from .cka import feature_layers, layer_grams, linear_cka
from .inspection import (
    LayerSimilarity,
    LoadedRun,
    inspect_run,
    layer_similarity,
    load_run,
    model_scores,
    prediction_view,
    probe_view,
    relearn_view,
    run_dataset,
    run_original,
    summary_text,
)
from .membership import SampleScores, attack_at, called_member, membership_score, nearest_to_threshold
from .persample import SampleView, sample_view, still_remembered
from .predictions import PredictionMatrices, prediction_matrix
from .relearn import RelearnResult, estimate_relearn_seconds, relearn_test
from .sample import InspectionSample, inspection_sample

__all__ = [
    "InspectionSample",
    "LayerSimilarity",
    "LoadedRun",
    "PredictionMatrices",
    "RelearnResult",
    "SampleScores",
    "SampleView",
    "attack_at",
    "called_member",
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
    "prediction_matrix",
    "prediction_view",
    "probe_view",
    "relearn_test",
    "relearn_view",
    "run_dataset",
    "run_original",
    "sample_view",
    "still_remembered",
    "summary_text",
]
