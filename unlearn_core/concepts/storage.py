"""A concept inference as plain arrays and JSON, so it can be kept in safetensors files (never pickle).

`inference_to_arrays` splits a `ConceptInference` (bank, bottleneck, attribution) into named
arrays and a JSON info dict; `inference_from_arrays` rebuilds an equal one. The workspace's
feature cache (`unlearn_core.workspace.feature_cache`) stores it this way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unlearn_core.concepts.attribution import ConceptAttribution
from unlearn_core.concepts.bank import ConceptBank
from unlearn_core.concepts.bottleneck import ConceptBottleneck
from unlearn_core.concepts.poisoning import ConceptInference

_BANK = ("vectors", "biases", "accuracy", "n_examples")
_BOTTLENECK = ("weight", "bias", "mean", "scale")


def inference_to_arrays(inference: ConceptInference) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(arrays, info) holding everything of `inference`; `inference_from_arrays` inverts it exactly."""
    bank, bottleneck, attribution = inference.bank, inference.bottleneck, inference.attribution
    arrays = {f"bank.{k}": np.asarray(getattr(bank, k)) for k in _BANK}
    arrays |= {f"bottleneck.{k}": np.asarray(getattr(bottleneck, k)) for k in _BOTTLENECK}
    arrays |= {"attribution.matrix": np.asarray(attribution.matrix), "attribution.counts": np.asarray(attribution.counts)}
    info = {"bank": {"names": list(bank.names), "control_accuracy": [float(a) for a in bank.control_accuracy],
                     "seed": int(bank.seed)},
            "class_names": list(bottleneck.class_names),
            "attribution": {"class_names": list(attribution.class_names),
                            "concept_names": list(attribution.concept_names), "baseline": attribution.baseline,
                            "max_delta": float(attribution.max_delta)}}
    return arrays, info


def inference_from_arrays(arrays: dict[str, np.ndarray], info: dict[str, Any]) -> ConceptInference:
    """The `ConceptInference` that `inference_to_arrays` split into `arrays` and `info`."""
    b = info["bank"]
    bank = ConceptBank(list(b["names"]), *(arrays[f"bank.{k}"] for k in _BANK),
                       control_accuracy=list(b["control_accuracy"]), seed=int(b["seed"]))
    bottleneck = ConceptBottleneck(bank, list(info["class_names"]), *(arrays[f"bottleneck.{k}"] for k in _BOTTLENECK))
    a = info["attribution"]
    attribution = ConceptAttribution(arrays["attribution.matrix"], list(a["class_names"]), list(a["concept_names"]),
                                     a["baseline"], arrays["attribution.counts"], float(a["max_delta"]))
    return ConceptInference(bank, bottleneck, attribution)
