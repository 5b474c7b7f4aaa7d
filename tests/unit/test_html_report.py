"""The HTML run report: self-contained, every section present, user text escaped."""

from __future__ import annotations

import re

import numpy as np

from studio_ui.compare_charts import embedding_figure, metric_frame, mia_chance_note, mia_figure, run_per_class_figure
from studio_ui.html_report import run_report_html
from unlearn_core.inspect.overview import ComparisonView


def _summary() -> dict:
    evals = {
        who: {"forget_acc": fa, "retain_acc": 0.99, "test_acc": 0.98, "forget_test_acc": fa, "mia_efficacy": 1 - fa,
              "loss_mia_auc": 0.52, "backdoor_asr": None, "per_class_test_acc": [0.9, fa, 0.95]}
        for who, fa in (("original", 1.0), ("unlearned", 0.02), ("retrain", 0.0))
    }
    return {
        "method": "del", "dataset": "digits", "model": "small_cnn", "forget": "class:1", "n_forget": 120, "seed": 0,
        "device": "cpu", "time_s": 3.0, "retrain_time_s": 6.0, "time_ratio": 0.5, "params_changed_frac": 0.3,
        "versus_retrain": {"avg_gap": 1.5, "tug_of_war": 0.97, "js_forget": 0.01, "js_test": 0.002},
        "details": evals, "config": {"note": "<script>alert(1)</script>"}, "class_names": ["a", "b", "c"],
    }


def _view() -> ComparisonView:
    rng = np.random.default_rng(0)
    coords = {who: rng.normal(size=(20, 2)) for who in ("original", "unlearned", "retrain")}
    is_forget = np.arange(20) < 8
    conf = {who: {"forget": rng.random(8), "test": rng.random(12)} for who in coords}
    return ComparisonView(coords, is_forget, rng.integers(0, 3, 20), conf)


def test_metric_frame_has_one_row_per_measured_metric_in_percent() -> None:
    frame = metric_frame(_summary())
    assert "Backdoor success" not in frame["metric"].tolist()  # never measured: no row
    row = frame[frame["metric"] == "Forget accuracy"].iloc[0]
    assert (row["original"], row["unlearned"], row["retrain"]) == ("100.0%", "2.0%", "0.0%")
    auc = frame[frame["metric"] == "Loss-attack AUC (train vs test)"].iloc[0]
    assert auc["unlearned"] == "0.52" and "0.5 = no leak" in auc["how to read"]  # an AUC, not a percentage


def test_report_is_self_contained_and_escapes_user_text() -> None:
    s, view = _summary(), _view()
    figures = [(run_per_class_figure(s, s["class_names"]), "per class caption"),
               (embedding_figure(view, "pca"), "embedding caption"), (mia_figure(view), "mia caption")]
    page = run_report_html("abc123", s, metric_frame(s), figures)
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert page.count("plotly.js v") == 1  # the library is inlined once, no CDN needed offline
    assert not re.search(r"<script[^>]*\bsrc=", page)  # nothing fetched when the file is opened
    for text in ("Forget accuracy", "Tug-of-War", "per class caption", "embedding caption", "mia caption",
                 "run abc123", "Test accuracy per class"):
        assert text in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_report_carries_the_inspection_and_external_runs() -> None:
    s = {**_summary(), "method": "external", "time_s": None, "time_ratio": None}
    layers = [{"name": n, "cka_vs_original": 0.9, "cka_vs_retrain": 0.8, "cka_original_vs_retrain": 0.7,
               "cka_vs_original_test": 0.95, "cka_vs_retrain_test": 0.9} for n in ("features.0", "penultimate")]
    matrix = {"n": 3, "original": [[1, 0, 0], [0, 2, 0], [0, 0, 0]], "unlearned": [[1, 0, 0], [0, 0, 2], [0, 0, 0]],
              "retrain": [[1, 0, 0], [1, 0, 1], [0, 0, 0]]}
    inspection = {"layers": layers, "prediction_matrix": {"forget": matrix, "test": None}, "classes": ["a", "b", "c"],
                  "probe": {"what": "forget vs kept", "original": 0.99, "unlearned": 0.97, "retrain": 0.931},
                  "relearn": {"steps": [0, 1, 2], "shots": 16, "original": [1.0, 1.0, 1.0],
                              "unlearned": [0.0, 0.5, 0.875], "retrain": [0.0, 0.0, 0.25]}}
    page = run_report_html("abc123", s, metric_frame(s), [], inspection)
    assert "unlearned elsewhere" in page and page.count("plotly.js v") == 1
    for text in ("Layer-wise similarity of representations", "original → retrained", "Linear probe",
                 "Relearn test", "93.1%", "87.5%", "forget accuracy after relearning (2 steps)",
                 "finetuning on 16 samples", "not within 2"):
        assert text in page, text


def test_an_mia_attack_at_chance_is_flagged_on_the_page_and_in_the_report() -> None:
    summary = _summary()
    assert mia_chance_note(summary) is None  # runs stored before the attack's accuracy was measured
    summary["details"]["unlearned"]["mia_attack_acc"] = 0.93
    summary["details"]["retrain"]["mia_attack_acc"] = 0.93
    assert mia_chance_note(summary) is None
    summary["details"]["retrain"]["mia_attack_acc"] = 0.52
    note = mia_chance_note(summary)
    assert "retrained model (attack accuracy 52%)" in note and "unlearned" not in note
    assert "MIA attack accuracy" in metric_frame(summary)["metric"].tolist()
    report = run_report_html("r1", summary, metric_frame(summary), [])
    assert "at chance on the retrained model" in report
