"""The tour's click starts what is missing, and DEL beside RFA at once (issue 23); its estimate
combines the stored times as the runs overlap."""

from __future__ import annotations

from types import SimpleNamespace

from studio_ui.tour_estimate import load_benchmark, tour_estimate
from studio_ui.tour_runs import TourRun, all_stored, to_start
from unlearn_core.runs.worker import RunRequest


def _run(method: str, *, stored: bool = False, status: str | None = None) -> TourRun:
    row = None if status is None else SimpleNamespace(id=f"{method}-row", status=status,
                                                      active=status in ("queued", "running"))
    entry = SimpleNamespace(id=f"{method}-stored") if stored else None
    return TourRun(method, RunRequest("digits", "class:3", method), entry, row)


def test_a_fresh_tour_starts_del_and_rfa_together() -> None:
    runs = (_run("del"), _run("rfa"))
    assert [r.method for r in to_start(runs)] == ["del", "rfa"]  # one click, both at once: they overlap
    assert not all_stored(runs)


def test_a_stored_run_is_not_computed_again() -> None:
    runs = (_run("del", stored=True), _run("rfa"))
    assert [r.method for r in to_start(runs)] == ["rfa"]
    assert runs[0].result_id == "del-stored"


def test_nothing_starts_twice_while_the_tour_runs() -> None:
    assert to_start((_run("del", status="running"), _run("rfa", status="done"))) == []


def test_run_again_reruns_both_when_everything_is_stored() -> None:
    runs = (_run("del", stored=True, status="done"), _run("rfa", stored=True))
    assert all_stored(runs) and [r.method for r in to_start(runs)] == ["del", "rfa"]
    assert runs[0].result_id == "del-row"  # the run that just finished, not an older stored one


def test_estimate_is_the_overlap_not_the_sum() -> None:
    """DEL beside RFA + retraining: the click takes the longer of the two, stated beside the sum."""
    bench = load_benchmark()
    cost = {m: bench.costs[m] for m in ("del", "rfa")}
    retrain = (cost["del"].retrain_time_s + cost["rfa"].retrain_time_s) / 2
    wall = max(retrain * cost["del"].time_ratio, retrain * (1 + cost["rfa"].time_ratio))
    text = tour_estimate(None, None, bench)
    assert text.startswith(f"Takes about {wall:.0f} s plus evaluation"), text
    again = tour_estimate({"time_s": 14.0, "retrain_time_s": 17.0}, {"time_s": 1.0}, bench)
    assert again.startswith("Takes about 14 s plus evaluation") and "about 32 s of computing" in again
