"""The tour's time estimate and its "why it pays off" figures, read from stored results (issue 25).

Before the click the estimate comes from the last tour run stored in this workspace (measured
here); else from the tour's click itself, timed in a browser by ``benchmarks/ui_latency.py`` (its
stored median), with each method's time ratio from the stored benchmark table of the same request
(benchmarks/results, digits class:3); else from that table alone: retraining's measured time and
each method's ratio, combined as the tour runs them (DEL beside RFA and the retraining, issue 23).
The table times the methods one process each, without the app's evaluation and browser beside them,
so on its own it misjudges the click. Each text says what it is based on. After the run, "why it
pays off" uses that run's own ratios, so the verdict never mixes the benchmark's figures with the
live run's.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .labels import format_duration, format_value
from .names import method_title
from .shipped_files import TOUR_BENCHMARK, TOUR_LATENCY

BENCH_FILE = TOUR_BENCHMARK
LATENCY_FILE = TOUR_LATENCY
PRODUCTION_RETRAIN_H = 10  # the illustration: a production model that takes 10 hours to retrain


@dataclass(frozen=True)
class MethodCost:
    """A method's mean time, retraining's mean time beside it, their ratio and the average gap (points)."""

    time_s: float
    retrain_time_s: float
    time_ratio: float
    avg_gap: float | None


@dataclass(frozen=True)
class Benchmark:
    """The stored benchmark table's costs per method, and where and when it was measured."""

    costs: dict[str, MethodCost]
    source: str  # "the benchmark table (digits class:3, 3 seeds, x86_64, 1 threads, 2026-11-30)"


@dataclass(frozen=True)
class TourTiming:
    """The tour's click timed in a browser: the median seconds from the click to the verdict, and where."""

    click_to_verdict_s: float
    source: str  # "benchmarks/ui_latency.py (x86_64, 2 cores, ..., 2026-12-06 15:45 UTC, median of 3 fresh servers)"


def _mean(values: Sequence[float | None]) -> float:
    kept = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    return sum(kept) / len(kept) if kept else math.nan


def load_benchmark(path: Path = BENCH_FILE) -> Benchmark | None:
    """The stored benchmark table at `path` as per-method means over its seeds; None when it is missing."""
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    costs: dict[str, MethodCost] = {}
    for method in {r["method"] for r in table.get("runs", [])}:
        runs = [r for r in table["runs"] if r["method"] == method]
        costs[method] = MethodCost(_mean([r.get("time_s") for r in runs]), _mean([r.get("retrain_time_s") for r in runs]),
                                   _mean([r.get("time_ratio") for r in runs]), _mean([r.get("avg_gap") for r in runs]))
    reruns = "".join(f"; {', '.join(r.get('methods', []))} rerun {r.get('date')} ({r.get('machine')})"
                     for r in table.get("reruns") or [])
    source = (f"the benchmark table ({table.get('dataset')} {table.get('forget')}, {table.get('seeds')} seeds, "
              f"{table.get('machine')}, {table.get('date')}{reruns})")
    return Benchmark(costs, source)


def load_tour_timing(path: Path = LATENCY_FILE) -> TourTiming | None:
    """The stored browser timing of the tour at `path` (``ui_latency.py``'s JSON); None when it is
    missing or holds no timed click."""
    try:
        report = json.loads(path.read_text())
        seconds = [float(r["tour_click_to_verdict_s"]) for r in report["rounds"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not seconds:
        return None
    machine = ", ".join(str(report.get("machine", "")).split(", ")[:2])  # "x86_64, 2 cores" (not the kernel)
    return TourTiming(statistics.median(seconds), f"benchmarks/ui_latency.py ({machine}, {report.get('date')}, "
                                                  f"median of {len(seconds)} fresh servers)")


def tour_estimate(del_run: Mapping[str, Any] | None, fast_run: Mapping[str, Any] | None,
                  bench: Benchmark | None, methods: tuple[str, str] = ("del", "rfa"),
                  timing: TourTiming | None = None) -> str:
    """How long the tour's click takes and what that figure is based on: the stored tour runs of this
    workspace (`del_run`, `fast_run`: their summaries), else `bench`, else no figure.

    The click's time is not the sum of the parts: the slow method (`methods[0]`) runs beside the
    fast one, whose run then trains the retrained model, one core each (`tour_runs`); once the
    retrained model is stored, a click runs the two methods only. `timing` (the click timed in a
    browser) gives the figure when no tour run is stored here, `bench` the methods' ratios beside it."""
    slow, fast = (method_title(m, short=True) for m in methods)
    if del_run is not None:
        fast_s = fast_run["time_s"] if fast_run is not None else 0.0
        total = del_run["time_s"] + (del_run.get("retrain_time_s") or 0.0) + fast_s
        return (f"Takes about {format_duration(max(del_run['time_s'], fast_s))} plus evaluation, based on the last "
                f"tour run in this workspace ({slow} {format_duration(del_run['time_s'])}, retraining "
                f"{format_duration(del_run.get('retrain_time_s'))}"
                + (f", {fast} {format_duration(fast_s)}" if fast_run is not None else "")
                + f": about {format_duration(total)} of computing, run side by side). The retrained model is "
                  "stored, so a second run skips it.")
    has_bench = bench is not None and all(m in bench.costs for m in methods)
    if timing is not None:
        text = (f"Takes about {format_duration(timing.click_to_verdict_s)} from the click to the verdict, as timed "
                f"in a browser by {timing.source}")
        if has_bench:
            parts = ", ".join(f"{method_title(m, short=True)} {format_value('time_ratio', bench.costs[m].time_ratio)}"
                              for m in methods)
            text += f"; {parts} of retraining's time, from {bench.source}"
        return (text + f". {slow} runs beside {fast} and the retraining, one core each. Longer while the machine is "
                       "busy, shorter on a GPU.")
    if not has_bench:
        return "No stored timing yet: the first run measures it."
    retrain = _mean([bench.costs[m].retrain_time_s for m in methods])
    ratios = [bench.costs[m].time_ratio for m in methods]
    parts = ", ".join(f"{method_title(m, short=True)} {format_value('time_ratio', r)}" for m, r in zip(methods, ratios,
                                                                                                     strict=True))
    side_by_side = max(retrain * ratios[0], retrain * (1 + ratios[1]))
    return (f"Takes about {format_duration(side_by_side)} plus evaluation, based on {bench.source}: retraining "
            f"{format_duration(retrain)}, {parts} of it, about {format_duration(retrain * (1 + sum(ratios)))} of "
            f"computing in all; {slow} runs beside {fast} and the retraining, one core each. Longer while the "
            "machine is busy, shorter on a GPU.")


def why_it_pays(del_run: Mapping[str, Any], fast_run: Mapping[str, Any] | None,
                methods: tuple[str, str] = ("del", "rfa")) -> str:
    """Two sentences on speed from this tour run's own figures (time ratio and average gap), so they
    agree with the verdict beside them."""
    slow, fast = (method_title(m, short=True) for m in methods)
    n_train = (del_run.get("n_forget") or 0) + (del_run.get("n_retain") or 0)
    images = f"{n_train:,} tiny images" if n_train else "this tiny data set"
    text = (f"On {images} retraining takes seconds, so {slow}, which finetunes about as long, is no faster "
            f"here (this run: {format_value('time_ratio', del_run.get('time_ratio'))} retraining's time, "
            f"{format_value('avg_gap', del_run.get('avg_gap'))} points from it)")
    if fast_run is None or not fast_run.get("time_ratio"):
        return text + "."
    ratio = float(fast_run["time_ratio"])
    return (text + f"; {fast} only trains a small adapter and got {format_value('avg_gap', fast_run.get('avg_gap'))} "
            f"points from it in {format_value('time_ratio', ratio)} the time. When retraining a production model "
            f"takes {PRODUCTION_RETRAIN_H} hours, {format_value('time_ratio', ratio)} is about "
            f"{format_duration(PRODUCTION_RETRAIN_H * 3600 * ratio)}, and the forget request can be served the same "
            "day: that is when unlearning pays off.")
