"""benchmarks/ui_latency.py keeps the before figures: each run stores the headline medians of the runs
before it, and the table lists them under its own (issue 23: the figures with the before ones beside)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def ul(benchmark_script):
    return benchmark_script("ui_latency")


def _report(date: str, clickable: tuple[float, ...], verdict: tuple[float, ...]) -> dict:
    rounds = [{"open_to_tour_clickable_s": c, "tour_click_to_verdict_s": v, "tour_button_shown_s": c - 0.5,
               "start_to_server_answer_s": 2.0, "start_to_tour_clickable_s": c + 3,
               "cold": {"Home": 1.0, "Compare": 2.0}, "warm": {"Home": 0.2 + i, "Compare": 0.4}}
              for i, (c, v) in enumerate(zip(clickable, verdict, strict=True))]
    return {"date": date, "machine": "x86_64, 2 cores", "load_before": [0.5, 0, 0], "load_after": [1.0, 0, 0],
            "streamlit": "1.67.0", "pages": ["Home", "Compare"], "rounds": rounds}


def test_each_run_keeps_the_earlier_headlines_oldest_first(ul) -> None:
    first = ul.with_history(_report("day 1", (8.0, 9.0, 7.0), (30.0, 20.0, 25.0)), None)
    assert first["history"] == []
    second = ul.with_history(_report("day 2", (4.0, 5.0, 6.0), (12.0, 11.0, 13.0)), first)
    third = ul.with_history(_report("day 3", (2.0, 2.5, 1.5), (8.0, 9.0, 7.0)), second)
    assert [h["date"] for h in third["history"]] == ["day 1", "day 2"]
    assert third["history"][0] == {"date": "day 1", "load_before": 0.5, "open_to_tour_clickable_s": 8.0,
                                   "tour_click_to_verdict_s": 25.0, "slowest_warm_page_s": 1.2}
    table = ul.render(third)
    assert "| day 1 | 0.50 | 8.0 | 25.0 | 1.2 |" in table and "| day 2 | 0.50 | 5.0 | 12.0 | 1.2 |" in table
    assert table.index("| day 1 |") < table.index("| day 2 |")
    assert "| app open → tour clickable (button shown, no script running) | 2.0 |" in table
    quote = ul.readme_quote(third)  # the README's sentence reads the same headline
    assert "clickable 2.0 s after the app opens" in quote and "verdict 8.0 s after" in quote
    assert "within 1.2 s warm" in quote
