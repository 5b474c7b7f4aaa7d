"""Run A against run B on the same forget set, both read against the retrained model.

Two stored runs are *comparable* when they forget the same samples from the same starting point:
same dataset (and data content), same starting model, same forget spec and seed (`comparable`).
Their retrained oracle is then the same request, so one retrained model is the reference of both.

`versus_inspection` measures both unlearned models on one inspection sample (the sample of run
A's seed, `sample.inspection_sample`) and returns a JSON-friendly dict: the metric table with A,
B and retraining (from the stored summaries), per-class accuracy, the prediction matrices
(original -> A, original -> B, original -> retrained), the layer CKA of each, the membership attack
of each at its best threshold, one shared projection of the four models' outputs (fitted on the
original's) and the forget samples on which A and B disagree most (`disagreement`).

`study_versus` puts two stored seed studies side by side: per metric, A's K values against B's
by the studies' own test (`metrics.verdict.permutation_p_value`, two-sided, α = 0.05, and a
difference of means above `metrics.verdict.MIN_GAP`), beside retraining's spread.

Nothing here modifies the runs, the models or the caller's dicts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from unlearn_core.embed import shared_projection
from unlearn_core.inspect.inspection import LoadedRun, layer_similarity, model_scores
from unlearn_core.inspect.membership import SCORES, SampleScores, best_attack
from unlearn_core.inspect.predictions import prediction_matrices
from unlearn_core.inspect.sample import DEFAULT_PER_SIDE, inspection_sample
from unlearn_core.metrics import metric_help
from unlearn_core.metrics.verdict import ALPHA, MIN_GAP, clean_values, permutation_p_value, spread
from unlearn_core.train import predict_logits

SIDES = ("a", "b")
ROLES = ("original", "a", "b", "retrain")  # the four models of a comparison
SAME_FIELDS = ("dataset", "forget", "seed")  # always required to match
SAME_IF_STORED = ("data_fingerprint", "model_digest")  # required to match when both runs store them
DISAGREEMENT_RULE = (
    "forget samples ranked by |scaled confidence under A - scaled confidence under B| (log(p / (1 - p)) of the "
    "true label, LiRA's statistic), samples on which A and B predict different classes first")
STUDY_RULE = (
    f"two-sided permutation test of A's K values against B's (difference of means, exact below 20,000 splits); "
    f"A and B differ beyond noise on a metric when p <= {ALPHA} and the means differ by more than "
    f"{100 * MIN_GAP:.1f} points")


def comparable(a: Mapping[str, Any], b: Mapping[str, Any]) -> str | None:
    """None when runs `a` and `b` (stored summaries) forget the same samples from the same start,
    else why not (one sentence)."""
    for field in SAME_FIELDS:
        if a.get(field) != b.get(field):
            return f"the runs differ in {field} ({a.get(field)!r} vs {b.get(field)!r})"
    for field in SAME_IF_STORED:
        if a.get(field) is not None and b.get(field) is not None and a[field] != b[field]:
            what = "starting model" if field == "model_digest" else "data"
            return f"the runs started from another {what}"
    return None


def comparable_runs(entries: Sequence[Any], summary: Mapping[str, Any], exclude: str | None = None) -> list[Any]:
    """The entries (stored runs, `store.Entry`) comparable with `summary`, in the given order,
    without the one whose id is `exclude`."""
    return [e for e in entries if e.id != exclude and comparable(summary, e.info) is None]


# -- from the stored summaries -------------------------------------------------------------------
def _closer(a: float | None, b: float | None, ref: float | None) -> str | None:
    if a is None or b is None or ref is None:
        return None
    da, db = abs(a - ref), abs(b - ref)
    if abs(da - db) < 1e-9:
        return "tie"
    return "a" if da < db else "b"


def metric_rows(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per metric either run measured: ``metric`` (the key), ``a``, ``b`` and ``retrain``
    (A's retrained model; B's is the same request), fractions as stored, and ``closer`` ("a" | "b" |
    "tie" | None): which run is nearer the retrained value."""
    rows = []
    da, db = a.get("details", {}), b.get("details", {})
    for key in metric_help():
        va, vb = da.get("unlearned", {}).get(key), db.get("unlearned", {}).get(key)
        ref = da.get("retrain", {}).get(key, db.get("retrain", {}).get(key))
        if va is None and vb is None and ref is None:
            continue
        rows.append({"metric": key, "a": va, "b": vb, "retrain": ref, "closer": _closer(va, vb, ref)})
    for key in ("avg_gap", "tug_of_war", "js_forget", "js_test"):
        va, vb = a.get("versus_retrain", {}).get(key), b.get("versus_retrain", {}).get(key)
        if va is not None or vb is not None:
            better = None if va is None or vb is None else "tie" if abs(va - vb) < 1e-12 else \
                ("a" if (va > vb) == (key == "tug_of_war") else "b")
            rows.append({"metric": key, "a": va, "b": vb, "retrain": None, "closer": better})
    return rows


def per_class(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, list[float] | None]:
    """Per-class test accuracy of A, B and the retrained model (A's summary's), as stored."""
    def of(summary: Mapping[str, Any], who: str) -> list[float] | None:
        values = summary.get("details", {}).get(who, {}).get("per_class_test_acc")
        return None if values is None else [float(v) for v in values]

    return {"a": of(a, "unlearned"), "b": of(b, "unlearned"), "retrain": of(a, "retrain") or of(b, "retrain")}


# -- measured on the models ----------------------------------------------------------------------
def disagreement(scores: Mapping[str, SampleScores], forget_idx: np.ndarray, k: int = 15) -> list[dict[str, Any]]:
    """The `k` forget samples on which A and B disagree most (see `DISAGREEMENT_RULE`), each with its
    ``position`` in the inspection sample, ``train_index``, and per model (``a``, ``b``, ``retrain``
    when scored) the prediction and scaled confidence; ``gap`` = |scaled A - scaled B|."""
    sa, sb = scores["a"].forget("scaled_confidence"), scores["b"].forget("scaled_confidence")
    pa, pb = np.asarray(scores["a"].forget_pred), np.asarray(scores["b"].forget_pred)
    gap = np.abs(sa - sb)
    differs = pa != pb
    order = np.lexsort((np.arange(len(gap)), -gap, ~differs))  # differing predictions first, then the gap
    out = []
    for i in order[: max(0, k)]:
        row: dict[str, Any] = {"position": int(i), "train_index": int(forget_idx[i]), "gap": float(gap[i]),
                               "predictions_differ": bool(differs[i])}
        for who in ("a", "b", "retrain"):
            if who in scores:
                row[f"{who}_prediction"] = int(scores[who].forget_pred[i])
                row[f"{who}_scaled_confidence"] = float(scores[who].forget("scaled_confidence")[i])
                row[f"{who}_confidence"] = float(scores[who].forget_confidence[i])
        out.append(row)
    return out


def versus_models(run_a: LoadedRun, run_b: LoadedRun) -> dict[str, torch.nn.Module]:
    """original, a, b and (when stored) retrain: A's original and retrained model, B's unlearned one."""
    models = {"original": run_a.models["original"], "a": run_a.models["unlearned"], "b": run_b.models["unlearned"]}
    retrain = run_a.models.get("retrain", run_b.models.get("retrain"))
    if retrain is not None:
        models["retrain"] = retrain
    return models


def projection_view(run_a: LoadedRun, models: Mapping[str, torch.nn.Module], forget_idx: np.ndarray,
                    test_idx: np.ndarray, *, projection: str = "pca", device: torch.device) -> dict[str, Any]:
    """Every model's log-probabilities on the forget samples (`forget_idx`, in that order: row i is
    the inspection sample's position i) and test samples (`test_idx`), on one projection fitted on
    the original's outputs: {"projection", "n_forget", "train_index", "labels", "coords": model -> [[x, y]]}."""
    data = run_a.data
    x = torch.cat([data.train.x[torch.as_tensor(forget_idx)], data.test.x[torch.as_tensor(test_idx)]])
    y = torch.cat([data.train.y[torch.as_tensor(forget_idx)], data.test.y[torch.as_tensor(test_idx)]])
    logits = {who: predict_logits(m, x, device=device) for who, m in models.items()}
    coords = shared_projection(logits, "original", projection, run_a.seed)
    return {"projection": projection, "n_forget": len(forget_idx), "train_index": [int(i) for i in forget_idx],
            "labels": [int(v) for v in y], "coords": {who: np.asarray(c).tolist() for who, c in coords.items()}}


def versus_inspection(run_a: LoadedRun, run_b: LoadedRun, *, device: torch.device, per_side: int = DEFAULT_PER_SIDE,
                      k: int = 15, projection: str | None = "pca", layers: bool = True) -> dict[str, Any]:
    """The comparison of run A against run B (see the module doc) as one JSON-friendly dict:
    ``a`` / ``b`` (run id, method, settings), ``metrics`` (`metric_rows`), ``per_class``,
    ``prediction_matrix`` ({classes, n, original, a, b, retrain}), ``layers`` ({a, b}: CKA rows as
    in the inspect JSON, without references), ``membership`` (per score and model, the attack at
    its best threshold), ``scaled_confidence`` (per model, on the forget samples and the attack's
    non-members), ``agreement`` (share of forget samples A and B predict alike),
    ``disagreement`` (`disagreement`, rule in ``disagreement_rule``), ``projection``
    (`projection_view`; None when `projection` is None) and ``sample``. ValueError when the runs
    are not comparable."""
    why = comparable(run_a.entry.info, run_b.entry.info)
    if why is not None:
        raise ValueError(f"runs {run_a.entry.id} and {run_b.entry.id} cannot be compared: {why}")
    sample = inspection_sample(run_a.data, run_a.forget, seed=run_a.seed, per_side=per_side)
    models = versus_models(run_a, run_b)
    scores = model_scores(models, run_a.data, sample, device=device)
    forget_x = run_a.data.train.subset(run_a.forget.forget_idx).x
    preds = {who: predict_logits(m, forget_x, device=device).argmax(1).numpy() for who, m in models.items()}
    matrices = prediction_matrices(preds, run_a.data.num_classes).to_dict()
    cka = None
    if layers:
        cka = {}
        for side in SIDES:
            pair = {"original": models["original"], "unlearned": models[side]}
            if "retrain" in models:
                pair["retrain"] = models["retrain"]
            cka[side] = layer_similarity(pair, run_a.data, sample, device=device).rows()
    classes = list(run_a.data.class_names)
    same = float(np.mean(preds["a"] == preds["b"])) if len(preds["a"]) else None
    return {
        "a": _run_info(run_a), "b": _run_info(run_b),
        "metrics": metric_rows(run_a.entry.info, run_b.entry.info),
        "per_class": {"classes": classes, **per_class(run_a.entry.info, run_b.entry.info)},
        "prediction_matrix": {"classes": classes, **{who: None for who in ROLES}, **matrices},
        "layers": cka,
        "membership": {score: {who: best_attack(scores[who], score) if who in scores else None for who in ROLES}
                       for score in SCORES},
        "scaled_confidence": {who: {"forget": s.forget("scaled_confidence").tolist(),
                                    "nonmember": s.nonmember("scaled_confidence").tolist()}
                              for who, s in scores.items()},
        "agreement": same,
        "disagreement": disagreement(scores, sample.forget_idx, k),
        "disagreement_rule": DISAGREEMENT_RULE,
        "projection": None if projection is None else projection_view(
            run_a, models, sample.forget_idx, sample.test_idx, projection=projection, device=device),
        "sample": {"n_forget": len(sample.forget_idx), "n_test": len(sample.test_idx),
                   "n_nonmember": len(sample.nonmember_idx), "seed": sample.seed},
    }


def _run_info(run: LoadedRun) -> dict[str, Any]:
    info = run.entry.info
    return {"run_id": run.entry.id, "method": info.get("method"), "config": dict(info.get("config") or {}),
            "forget": info.get("forget"), "seed": info.get("seed")}


# -- two seed studies ----------------------------------------------------------------------------
def study_versus(study_a: Mapping[str, Any] | None, study_b: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Two stored seed studies (their results) side by side, or None unless both are given: per
    metric both studies have (``metrics``), A's and B's K values, retraining's spread (A's study),
    the difference of means (A - B), the permutation p-value and ``differ`` (see `STUDY_RULE`);
    ``differ_on`` lists the metrics where A and B differ beyond noise; ``rule`` states the test."""
    if study_a is None or study_b is None:
        return None
    rows = []
    for key, a_spread in study_a.get("unlearned", {}).items():
        b_spread = study_b.get("unlearned", {}).get(key)
        if b_spread is None:
            continue
        a_values, b_values = clean_values(a_spread.get("values", [])), clean_values(b_spread.get("values", []))
        row: dict[str, Any] = {"metric": key, "a": spread(list(a_values)), "b": spread(list(b_values)),
                               "retrain": study_a.get("retrain", {}).get(key), "difference": None,
                               "p_value": None, "differ": None}
        if len(a_values) and len(b_values):
            diff = float(a_values.mean() - b_values.mean())
            p = permutation_p_value(a_values, b_values)
            row.update(difference=diff, p_value=p, differ=bool(p <= ALPHA and abs(diff) > MIN_GAP))
        rows.append(row)
    return {"k": {"a": study_a.get("k"), "b": study_b.get("k")}, "metrics": rows,
            "differ_on": [r["metric"] for r in rows if r["differ"]], "alpha": ALPHA, "min_gap": MIN_GAP,
            "rule": STUDY_RULE}


def _canonical(config: Mapping[str, Any] | None) -> str:
    from unlearn_core.serialize import to_jsonable

    return json.dumps(to_jsonable(dict(config or {})), sort_keys=True)


def study_of(workspace: Any, summary: Mapping[str, Any]) -> Any | None:
    """The newest stored seed study (`store.Entry`) of this run's request with the same method,
    settings and defaults revision, or None (the lookup Compare's study view makes)."""
    from unlearn_core.workspace.studies import REQUEST_FIELDS, studies_for

    if not all(f in summary for f in REQUEST_FIELDS):
        return None
    for entry in studies_for(workspace, summary):
        info = entry.info
        if (info.get("method") == summary.get("method") and _canonical(info.get("config")) == _canonical(
                summary.get("config")) and info.get("method_revision", 1) == summary.get("method_revision", 1)):
            return entry
    return None


def versus_text(versus: Mapping[str, Any]) -> str:
    """A few readable lines of a `versus_inspection` result (with its ``study`` when present)."""
    def fmt(value: float | None) -> str:
        return "–" if value is None else f"{value:.3f}"

    a, b = versus["a"], versus["b"]
    lines = [f"A = run {a['run_id']} ({a['method']}), B = run {b['run_id']} ({b['method']}), forgetting {a['forget']}",
             "metric: A / B / retrained (closer to retraining)"]
    lines += [f"  {r['metric']:<18} {fmt(r['a'])} / {fmt(r['b'])} / {fmt(r['retrain'])} ({r['closer'] or '–'})"
              for r in versus["metrics"]]
    lines.append(f"A and B predict alike on {fmt(versus['agreement'])} of the forget samples; most disagreed on: "
                 + ", ".join(f"#{r['train_index']}" for r in versus["disagreement"][:5]))
    study = versus.get("study")
    if study is not None:
        differ = ", ".join(study["differ_on"]) or "no metric"
        lines.append(f"seed studies (K = {study['k']['a']} / {study['k']['b']}): A and B differ beyond noise on {differ}")
    return "\n".join(lines)


__all__ = ["DISAGREEMENT_RULE", "ROLES", "STUDY_RULE", "comparable", "comparable_runs", "disagreement",
           "metric_rows", "per_class", "projection_view", "study_of", "study_versus", "versus_inspection",
           "versus_models", "versus_text"]
