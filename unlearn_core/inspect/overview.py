"""The Compare page's view model, computed from stored runs: metric explanations, the shared
projection of original / unlearned / retrained outputs, and membership-score distributions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from unlearn_core.data import SplitDataset
from unlearn_core.embed import shared_projection
from unlearn_core.forget import resolve
from unlearn_core.inspect.outputs import OutputsFn, read_logits
from unlearn_core.metrics import metric_help, true_label_confidence
from unlearn_core.models import SplitClassifier, load_checkpoint
from unlearn_core.train import predict_logits
from unlearn_core.workspace.store import MODEL_FILE, Entry

# metric key -> (label, one-line explanation, how to read it), from the metrics table
METRIC_HELP: dict[str, tuple[str, str, str]] = metric_help()
COMPARISON_HELP: dict[str, tuple[str, str]] = {
    "avg_gap": ("mean |difference| to retrain over forget, retain, test accuracy and MIA-efficacy (points)", "lower is better"),
    "tug_of_war": ("(1-|ΔFA|)(1-|ΔRA|)(1-|ΔTA|) against retrain", "higher is better, 1 = identical to retrain"),
    "js_forget": ("Jensen-Shannon divergence to retrain's predictions on the forget set", "lower is better"),
    "js_test": ("Jensen-Shannon divergence to retrain's predictions on the test set", "lower is better"),
    "params_changed_frac": ("share of parameters the method changed", "lower = more local"),
    "time_ratio": ("method time / retrain time", "lower is faster"),
}



@dataclass
class ComparisonView:
    """Per-model outputs on the forget set and a test sample, on one shared 2-D projection."""

    coords: dict[str, np.ndarray]  # model -> [n_forget + n_test_sample, 2]
    is_forget: np.ndarray  # bool mask over the rows
    labels: np.ndarray  # true labels of the rows
    confidence: dict[str, dict[str, np.ndarray]]  # model -> {"forget", "test"} true-label confidence


def comparison_view(
    data: SplitDataset,
    forget_spec: str,
    seed: int,
    models: dict[str, torch.nn.Module],
    *,
    projection: str = "pca",
    max_points: int = 1500,
    outputs: OutputsFn | None = None,
) -> ComparisonView:
    """Project every model's log-probabilities on forget samples and test samples with one map
    fitted on the original model's outputs, so movement between models is comparable. The logits
    come from `outputs` when given (`inspect.outputs`), else from a forward pass.
    """
    fs = resolve(forget_spec, data, seed)
    rng = np.random.default_rng(seed)
    f_idx = fs.forget_idx if len(fs.forget_idx) <= max_points // 2 else np.sort(rng.choice(fs.forget_idx, max_points // 2, replace=False))
    t_idx = np.sort(rng.choice(len(data.test), min(len(data.test), max_points - len(f_idx)), replace=False))
    y = torch.cat([data.train.y[torch.as_tensor(f_idx)], data.test.y[torch.as_tensor(t_idx)]])
    logits = {name: torch.cat([read_logits(outputs, models, name, data, "train", f_idx, device=None),
                               read_logits(outputs, models, name, data, "test", t_idx, device=None)])
              for name in models}
    coords = shared_projection(logits, "original", projection, seed)
    n_f = len(f_idx)
    conf = {
        name: {"forget": true_label_confidence(out[:n_f], y[:n_f]), "test": true_label_confidence(out[n_f:], y[n_f:])}
        for name, out in logits.items()
    }
    return ComparisonView(coords, np.arange(len(y)) < n_f, y.numpy(), conf)


def history_rows(entries: list[Entry]) -> list[dict[str, Any]]:
    """One flat row per run for the history table and CSV export."""
    rows = []
    for e in entries:
        s = e.info
        row: dict[str, Any] = {"run": e.id, "method": s["method"], "forget": s["forget"], "seed": s["seed"],
                               "model": s["model"], "n_forget": s["n_forget"]}
        for who in ("unlearned", "retrain"):
            for k, v in s[who].items():
                row[f"{who}.{k}"] = v
        for k in ("avg_gap", "time_s", "retrain_time_s", "time_ratio", "params_changed_frac"):
            row[k] = s.get(k)
        rows.append(row)
    return rows


def stage_test_accuracy(workspace_entry: Entry, data: SplitDataset, original: SplitClassifier) -> dict[str, dict[str, float]]:
    """UNSIR's test accuracy on the forgotten and kept classes: original, after impair, after repair.

    UNSIR never reads forget data, so the impaired model's state is stored with the run and
    evaluated here, by the evaluation layer.
    """
    from unlearn_core.train import accuracy
    from unlearn_core.workspace.store import load_run_artifacts

    artifacts = load_run_artifacts(workspace_entry)
    prefix = "impaired_state/"
    state = {k[len(prefix):]: v for k, v in artifacts.items() if k.startswith(prefix)}
    unlearned, meta = load_checkpoint(workspace_entry.file(MODEL_FILE))
    models = {"original": original, "after repair": unlearned}
    if state:
        impaired = meta.build()
        impaired.load_state_dict(state)
        models = {"original": original, "after impair": impaired, "after repair": unlearned}
    fs = resolve(workspace_entry.info["forget"], data, workspace_entry.info["seed"])
    out = {}
    for name, model in models.items():
        logits = predict_logits(model, data.test.x)
        out[name] = {
            "forgotten classes": accuracy(logits, data.test.y, fs.test_forget_idx),
            "kept classes": accuracy(logits, data.test.y, fs.test_retain_idx(len(data.test))),
        }
    return out
