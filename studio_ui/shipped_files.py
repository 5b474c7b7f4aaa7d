"""Files the app reads that belong to the repository's docs and benchmarks, shipped as package data.

``studio_ui/shipped/`` links to ``docs/methods.md`` (the method cards), ``benchmarks/results.md``
(the benchmark tables) and ``benchmarks/results/`` (each table's stored JSON, and the browser timings of
``benchmarks/ui_latency.py``). Building the package copies
their contents into the wheel, so an installed app reads the same files as a checkout, through
`importlib.resources`, and each figure keeps one home: the file the benchmarks write.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def shipped(name: str) -> Path:
    """The path of shipped file `name` (in a checkout, the link into docs/ or benchmarks/)."""
    return Path(str(resources.files("studio_ui") / "shipped" / name))


def benchmark_file(stem: str) -> Path:
    """The stored JSON of benchmark table `stem` (``digits-class_3``, ``digits-random_0.1@2_5``)."""
    return shipped("results") / f"{stem}.json"


METHOD_DOCS = shipped("methods.md")
BENCHMARK_TABLES = shipped("results.md")
TOUR_BENCHMARK = benchmark_file("digits-class_3")  # the tour's request (digits, class:3)
TOUR_LATENCY = shipped("results") / "timing" / "ui_latency.json"  # the tour clicked in a browser (ui_latency.py)
