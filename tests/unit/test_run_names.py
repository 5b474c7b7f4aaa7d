"""One name per model and run (issue 25): an uploaded checkpoint is named one way everywhere, and
run pickers name runs, not ids."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from studio_ui.history import history_view
from studio_ui.names import EXTERNAL_TITLE, method_title, run_label
from unlearn_core.workspace.store import Entry


def test_external_has_one_title() -> None:
    assert method_title("external") == EXTERNAL_TITLE
    assert method_title("del", short=True) == "DEL"
    rows = pd.DataFrame({"run": ["r1"], "method": ["external"], "forget": ["class:3"], "seed": [0],
                         "avg_gap": [1.0], "time_ratio": [None], "params_changed_frac": [None]})
    assert history_view(rows, lambda spec: spec)["method"].tolist() == [EXTERNAL_TITLE]


def test_report_title_names_the_method() -> None:
    from studio_ui.compare_charts import metric_frame
    from studio_ui.html_report import run_report_html

    evals = {who: {"forget_acc": fa, "retain_acc": 0.99, "test_acc": 0.98, "forget_test_acc": fa,
                   "mia_efficacy": 1 - fa, "loss_mia_auc": 0.52, "backdoor_asr": None,
                   "per_class_test_acc": [0.9, fa, 0.95]}
             for who, fa in (("original", 1.0), ("unlearned", 0.02), ("retrain", 0.0))}
    s = {"method": "external", "dataset": "digits", "model": "small_cnn", "forget": "class:1", "n_forget": 120,
         "seed": 0, "device": "cpu", "time_s": None, "retrain_time_s": 6.0, "time_ratio": None,
         "params_changed_frac": 0.3, "versus_retrain": {"avg_gap": 1.5}, "details": evals, "config": {},
         "class_names": ["a", "b", "c"]}
    page = run_report_html("r1", s, metric_frame(s), [])
    assert f"Unlearning report: {EXTERNAL_TITLE}" in page and "report: external" not in page


def test_run_label_has_no_raw_ids() -> None:
    entry = Entry("20261206-abcdef12", "run", "del | class:3 | seed 0", "digits", None, 1_765_000_000.0,
                  {"method": "del", "forget": "class:3", "seed": 0}, Path("."))
    label = run_label(entry, {}, [str(i) for i in range(10)])
    assert label.startswith("DEL forgetting class 3 · seed 0 · ")
    assert "abcdef12" not in label and "del |" not in label
