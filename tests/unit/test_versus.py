"""A vs B (unlearn_core.inspect.versus): which runs compare, the metric rows, the disagreement
ranking, the two studies' permutation test; and `inspect --versus` end to end on two cheap runs."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from unlearn_core.inspect.membership import SampleScores
from unlearn_core.inspect.versus import comparable, disagreement, metric_rows, study_versus
from unlearn_core.metrics.verdict import permutation_p_value

BASE = {"dataset": "digits", "forget": "class:3", "seed": 0, "data_fingerprint": "d", "model_digest": "m"}


def test_only_runs_on_the_same_forget_set_compare() -> None:
    assert comparable(BASE, {**BASE, "method": "other"}) is None
    assert "forget" in comparable(BASE, {**BASE, "forget": "class:4"})
    assert "seed" in comparable(BASE, {**BASE, "seed": 1})
    assert "starting model" in comparable(BASE, {**BASE, "model_digest": "x"})
    assert comparable(BASE, {k: v for k, v in BASE.items() if k != "model_digest"}) is None  # older runs lack it


def _summary(forget_acc: float, gap: float) -> dict:
    return {**BASE, "details": {"unlearned": {"forget_acc": forget_acc, "test_acc": 0.9},
                                "retrain": {"forget_acc": 0.0, "test_acc": 0.9}},
            "versus_retrain": {"avg_gap": gap, "tug_of_war": 1 - gap}}


def test_metric_rows_say_which_run_is_closer_to_retraining() -> None:
    a, b = _summary(0.10, 0.05), _summary(0.30, 0.08)
    before = copy.deepcopy((a, b))
    rows = {r["metric"]: r for r in metric_rows(a, b)}
    assert rows["forget_acc"] == {"metric": "forget_acc", "a": 0.10, "b": 0.30, "retrain": 0.0, "closer": "a"}
    assert rows["test_acc"]["closer"] == "tie"
    assert rows["avg_gap"]["closer"] == "a" and rows["tug_of_war"]["closer"] == "a"  # lower gap, higher ToW
    assert (a, b) == before  # the caller's dicts are not touched


def _scores(conf: list[float], pred: list[int]) -> SampleScores:
    c = np.array(conf)
    return SampleScores(c, -np.log(c), np.array(pred), np.array([0.5]), np.array([0.7]))


def test_disagreement_ranks_differing_predictions_first_then_the_confidence_gap() -> None:
    scores = {"a": _scores([0.9, 0.99, 0.5, 0.6], [3, 3, 3, 3]),
              "b": _scores([0.9, 0.10, 0.4, 0.6], [3, 3, 8, 3]),
              "retrain": _scores([0.1, 0.1, 0.1, 0.1], [8, 8, 8, 8])}
    rows = disagreement(scores, np.array([10, 11, 12, 13]), k=3)
    assert [r["train_index"] for r in rows] == [12, 11, 10]  # 12: predictions differ; 11: largest gap
    assert rows[0]["predictions_differ"] and not rows[1]["predictions_differ"]
    assert rows[1]["gap"] == pytest.approx(abs(np.log(0.99 / 0.01) - np.log(0.10 / 0.90)))
    assert rows[0]["b_prediction"] == 8 and rows[0]["retrain_prediction"] == 8


def _study(forget_values: list[float], k: int = 4) -> dict:
    return {"k": k, "unlearned": {"forget_acc": {"values": forget_values}, "test_acc": {"values": [0.9] * k}},
            "retrain": {"forget_acc": {"mean": 0.0, "std": 0.0, "values": [0.0] * k}}}


def test_studies_compared_by_the_permutation_test() -> None:
    a, b = _study([0.10, 0.11, 0.12, 0.13]), _study([0.30, 0.31, 0.32, 0.33])
    before = copy.deepcopy((a, b))
    out = study_versus(a, b)
    rows = {r["metric"]: r for r in out["metrics"]}
    assert rows["forget_acc"]["p_value"] == permutation_p_value([0.10, 0.11, 0.12, 0.13], [0.30, 0.31, 0.32, 0.33])
    assert rows["forget_acc"]["p_value"] == pytest.approx(2 / 70)  # the two extreme splits of C(8, 4)
    assert rows["forget_acc"]["differ"] and rows["forget_acc"]["difference"] == pytest.approx(-0.2)
    assert rows["test_acc"]["differ"] is False  # equal values: not beyond noise
    assert out["differ_on"] == ["forget_acc"] and "permutation test" in out["rule"]
    assert rows["forget_acc"]["retrain"]["values"] == [0.0] * 4
    assert (a, b) == before
    assert study_versus(a, None) is None
    overlapping = study_versus(_study([0.10, 0.30, 0.12, 0.32]), _study([0.11, 0.31, 0.13, 0.33]))
    assert overlapping["differ_on"] == []


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory):
    from tests.study_fixture import build

    return build(tmp_path_factory.mktemp("versus") / "workspace")


def test_cli_inspect_versus_adds_the_comparison(two_runs, capsys) -> None:
    from unlearn_core.cli import main

    args = ["inspect", "--run", two_runs.studied_run, "--workspace", str(two_runs.root), "--device", "cpu",
            "--sample", "60", "--relearn-steps", "1"]
    assert main([*args, "--versus", two_runs.plain_run, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for field in ("run_id", "layers", "prediction_matrix", "probe", "relearn", "membership", "sample"):
        assert field in report  # the inspect JSON's fields stay as they were
    v = report["versus"]
    assert v["a"]["run_id"] == two_runs.studied_run and v["b"]["run_id"] == two_runs.plain_run
    assert v["a"]["config"]["epochs"] == 1 and v["b"]["config"]["epochs"] == 2
    n = two_runs.n_forget
    for who in ("original", "a", "b", "retrain"):
        assert np.asarray(v["prediction_matrix"][who]).sum() == n  # every forget sample, once
    metrics = {r["metric"]: r for r in v["metrics"]}
    from unlearn_core.workspace.store import Workspace

    ws = Workspace(two_runs.root)
    assert metrics["forget_acc"]["a"] == ws.get(two_runs.studied_run).info["details"]["unlearned"]["forget_acc"]
    assert metrics["forget_acc"]["b"] == ws.get(two_runs.plain_run).info["details"]["unlearned"]["forget_acc"]
    assert len(v["projection"]["coords"]["a"]) == v["projection"]["n_forget"] + v["sample"]["n_test"]
    gaps = [r["gap"] for r in v["disagreement"] if not r["predictions_differ"]]
    assert gaps == sorted(gaps, reverse=True)
    assert len(v["layers"]["a"]) == len(v["layers"]["b"]) == len(report["layers"])
    assert v["study"] is None  # only run A has a study: no A-vs-B test
    assert main([*args, "--versus", two_runs.studied_run]) == 2  # B must be another run: one line, no traceback
    assert "another stored run" in capsys.readouterr().err
