"""The tour's estimate comes from stored results and says from which (issue 25)."""

from __future__ import annotations

import json
from pathlib import Path

from studio_ui.tour_estimate import (
    BENCH_FILE,
    LATENCY_FILE,
    load_benchmark,
    load_tour_timing,
    tour_estimate,
    why_it_pays,
)


def test_estimate_from_the_benchmark_json() -> None:
    table = json.loads(BENCH_FILE.read_text())
    runs = {m: [r for r in table["runs"] if r["method"] == m] for m in ("del", "rfa")}
    retrain = sum(r["retrain_time_s"] for m in runs for r in runs[m]) / sum(len(v) for v in runs.values())
    ratios = [sum(r["time_ratio"] for r in runs[m]) / len(runs[m]) for m in ("del", "rfa")]
    text = tour_estimate(None, None, load_benchmark())
    assert f"about {retrain * (1 + sum(ratios)):.0f} s" in text  # what the stored table measured, not a constant
    assert "based on the benchmark table (digits class:3" in text and table["date"] in text


def test_estimate_from_this_workspace_first() -> None:
    text = tour_estimate({"time_s": 14.0, "retrain_time_s": 17.0}, {"time_s": 1.0}, load_benchmark())
    assert "about 32 s" in text and "based on the last tour run in this workspace" in text


def test_no_stored_figures_no_invented_number(tmp_path: Path) -> None:
    assert load_benchmark(tmp_path / "missing.json") is None
    assert tour_estimate(None, None, None) == "No stored timing yet: the first run measures it."


def test_why_it_pays_uses_this_runs_figures() -> None:
    text = why_it_pays({"time_ratio": 1.3, "avg_gap": 0.2, "n_forget": 146, "n_retain": 1292},
                       {"time_ratio": 0.05, "avg_gap": 0.3})
    assert "this run: 1.30x" in text and "0.05x" in text and "1,438 tiny images" in text
    assert "0.06x" not in text  # no benchmark ratio beside the live run's


def test_the_source_names_the_rows_rerun_later(tmp_path: Path) -> None:
    table = json.loads(BENCH_FILE.read_text())
    table["reruns"] = [{"date": "2031-01-02", "machine": "riscv, 3 threads", "methods": ["del"]}]
    path = tmp_path / "table.json"
    path.write_text(json.dumps(table))
    source = load_benchmark(path).source
    assert source.endswith(f"{table['date']}; del rerun 2031-01-02 (riscv, 3 threads))")


def test_estimate_from_the_tour_timed_in_a_browser() -> None:
    """Before any tour run here, the figure is the stored median click -> verdict of ui_latency.py (the
    app, its evaluation and the browser included), with the methods' ratios from the benchmark table."""
    report = json.loads(LATENCY_FILE.read_text())
    seconds = sorted(r["tour_click_to_verdict_s"] for r in report["rounds"])
    assert len(seconds) == 3
    text = tour_estimate(None, None, load_benchmark(), timing=load_tour_timing())
    assert text.startswith(f"Takes about {seconds[1]:.0f} s from the click to the verdict"), text
    assert f"benchmarks/ui_latency.py (x86_64, 2 cores, {report['date']}, median of 3" in text
    table = json.loads(BENCH_FILE.read_text())
    del_ratio = sum(r["time_ratio"] for r in table["runs"] if r["method"] == "del") / 3
    assert "the benchmark table (digits class:3" in text and f"DEL {del_ratio:.2f}x" in text
    # this workspace's own tour run still comes first
    assert "last tour run in this workspace" in tour_estimate({"time_s": 5.0}, None, None, timing=load_tour_timing())


def test_the_browser_timing_follows_its_stored_file(tmp_path: Path) -> None:
    report = json.loads(LATENCY_FILE.read_text())
    report["rounds"] = [{"tour_click_to_verdict_s": s} for s in (41.0, 20.0, 30.0, 99.0)]
    path = tmp_path / "ui_latency.json"
    path.write_text(json.dumps(report))
    timing = load_tour_timing(path)
    assert timing is not None and timing.click_to_verdict_s == 35.5 and "median of 4 fresh servers" in timing.source
    assert tour_estimate(None, None, None, timing=timing).startswith("Takes about 36 s from the click")
    path.write_text("{}")
    assert load_tour_timing(path) is None and load_tour_timing(tmp_path / "missing.json") is None
