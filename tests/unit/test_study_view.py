"""The app's seed-study helpers: the noise-aware gap headline, the ε histogram's bins, the bands
figure drawn from stored values, and the HTML report's study section."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from studio_ui.html_report import run_report_html
from studio_ui.study_charts import bands_figure, epsilon_bins, epsilon_figure, most_distinguishable
from studio_ui.study_view import gap_headline, quality_sentence, verdict_frame
from unlearn_core.bench.tasks import BenchTask, TaskResult
from unlearn_core.study.seed_study import summarize_study

K, N = 4, 40


def _study() -> dict:
    """A K = 4 study from synthetic members: forget accuracy outside, half the examples separable."""
    rng = np.random.default_rng(1)
    results = []
    for seed in range(K):
        values = {"forget_acc": 0.0, "retain_acc": 0.99 + 0.002 * seed, "test_acc": 0.97, "forget_test_acc": 0.0,
                  "mia_efficacy": 0.9 + 0.01 * seed, "mia_attack_acc": 0.7}
        results.append(TaskResult(BenchTask(seed), {"member": {"values": values,
                                                               "forget_scores": rng.normal(-8, 1, N).tolist()}},
                                  None, 1.0))
    for seed in range(K):
        values = {"forget_acc": 0.3 + 0.01 * seed, "retain_acc": 0.99, "test_acc": 0.97, "forget_test_acc": 0.1,
                  "mia_efficacy": 0.9, "mia_attack_acc": 0.7}
        scores = rng.normal(-8, 1, N)
        scores[: N // 2] += 20
        results.append(TaskResult(BenchTask(seed, "finetune", "finetune"),
                                  {"member": {"values": values, "forget_scores": scores.tolist()}}, None, 1.0))
    result, _ = summarize_study(results, np.arange(100, 100 + N))
    result.update(method="finetune", forget="class:3", dataset="digits", k=K, time_s=5.0, config={})
    return result


def test_gap_headline_puts_the_floor_beside_the_gap() -> None:
    run = {"avg_gap": 0.42, "avg_gap_informative": 0.42}
    floor = {"avg_gap": 0.14, "k": 8}
    assert gap_headline(run, floor) == "gap 0.42 pts (retraining vs retraining: floor 0.14 pts, K = 8 seeds)"
    assert "no seed study of this request yet" in gap_headline(run, None)
    assert gap_headline(run, floor, compact=True) == "0.42 (floor 0.14, K = 8)"


def test_gap_headline_shows_the_informative_gap_and_calls_a_miss_only_from_a_study() -> None:
    run = {"avg_gap": 5.0, "avg_gap_informative": 0.5}
    text = gap_headline(run, {"avg_gap": 0.2, "k": 4})
    assert "0.50 pts without MIA-efficacy, whose attack is at chance" in text
    assert "OUTSIDE" not in text and "miss" not in text  # no study of the method: nothing is called a miss
    assert "OUTSIDE retraining's spread" in gap_headline(run, {"avg_gap": 0.2, "k": 4},
                                                         {"k": 4, "verdict_overall": "outside"})
    assert gap_headline({"avg_gap": 1.0, "avg_gap_informative": 1.0}, None, compact=True) == "1.00"


def test_epsilon_bins_count_every_example_and_score_the_last_bin_zero() -> None:
    labels, counts, points = epsilon_bins([0.1, 0.4, 0.6, 1.9, 2.0, 50.0], max_scored=2.0)
    assert labels == ["0–0.5", "0.5–1", "1–1.5", "1.5–2", "≥ 2 (scores 0)"]
    assert counts == [2, 1, 0, 1, 2]
    assert points == [1.0, 0.5, 0.25, 0.125, 0.0]


def test_bands_and_histogram_come_from_the_stored_values() -> None:
    study = _study()
    fig = bands_figure(study)
    assert [a.text.split(":")[0] for a in fig.layout.annotations] == ["Forget accuracy", "Retain accuracy",
                                                                      "Test accuracy", "Forgotten-slice test accuracy",
                                                                      "MIA-efficacy"]
    assert fig.layout.annotations[0].text.endswith("OUTSIDE retraining's spread")
    dots = [t for t in fig.data if t.name == "unlearned runs (K seeds)"]
    assert list(dots[0].x) == pytest.approx([30.0, 31.0, 32.0, 33.0])
    hist = epsilon_figure(study)
    assert sum(hist.data[0].y) == N and hist.data[0].y[-1] >= N // 2
    top = most_distinguishable(study["per_example"], 8)
    assert all(p < N // 2 for p in top)  # the planted half comes first


def test_verdict_frame_and_quality_sentence() -> None:
    study = _study()
    frame = verdict_frame(study)
    assert isinstance(frame, pd.DataFrame) and len(frame) == len(study["verdict"])
    assert frame.iloc[0]["verdict"] == "OUTSIDE retraining's spread"
    assert frame.iloc[0]["unlearned: mean ± std (min–max), %"].startswith("31.5 ± 1.1  (30.0–33.0)")
    sentence = quality_sentence(study)
    assert sentence is not None
    assert f"F = {study['forgetting_quality']:.3f} against {study['forgetting_quality_null']:.3f}" in sentence
    assert "give themselves away" in quality_sentence({**study, "forgetting_quality": 0.0})


def test_html_report_holds_the_floor_and_the_study() -> None:
    from tests.unit.test_html_report import _summary

    study = _study()
    summary = {**_summary(), "avg_gap": 1.5, "avg_gap_informative": 1.5}
    page = run_report_html("r1", summary, pd.DataFrame({"metric": ["x"]}), [], noise_floor={"avg_gap": 0.3, "k": K},
                           study=study)
    assert "gap 1.50 pts (retraining vs retraining: floor 0.30 pts, K = 4 seeds)" in page
    assert "<h2>Against retraining's own spread (seed study)</h2>" in page
    assert "permutation test" in page and "Per-example ε" in page and "Forgetting quality F" in page
    assert page.count("plotly.js") >= 1  # the figures (bands, ε histogram) inlined, plotly once
    plain = run_report_html("r1", summary, pd.DataFrame({"metric": ["x"]}), [])
    assert "no seed study of this request yet" in plain and "seed study)" not in plain
