"""The tour's estimate comes from stored results and says from which (issue 25)."""

from __future__ import annotations

import json
from pathlib import Path

from studio_ui.tour_estimate import BENCH_FILE, load_benchmark, tour_estimate, why_it_pays


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
