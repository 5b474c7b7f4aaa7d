"""What the studio's server does once, before it answers: import the heavy modules the first page
draws with, so a visitor's first page does not wait for them (issue 23, "clickable ≤ 3 s").

Streamlit imports a page's modules inside the first visitor's script run: torch, the library,
pandas, plotly and pyarrow take about 2 s of a 2-core machine, after the browser has already spent
about 1 s loading Streamlit's frontend. Importing them when the server starts moves that work to
a moment nobody waits on a page. It runs to completion before the server answers, not in a
background thread: a thread importing torch holds the GIL while the server sends the frontend,
and measured on the idle 2-core machine it made the first page clickable later (4.3 s after
opening it, against 2.1 s with the imports finished first; from `streamlit run` to clickable 5.0 s
against 4.4 s). `benchmarks/ui_latency.py` measures both ends.

`app.py` (a checkout) serves the studio as an ``st.App`` whose lifespan preloads;
`unlearning-studio` (an installed package) preloads before it starts Streamlit.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

# What the landing pages (Home and the guided tour) and the sidebar import, heavy third-party
# packages first. tests/unit/test_startup.py checks that drawing both pages after `preload`
# imports none of torch, numpy, pandas, plotly or pyarrow anew.
PRELOADED_MODULES: tuple[str, ...] = (
    "torch",
    "pandas",
    "plotly.graph_objects",
    "pyarrow",
    "studio_ui.jobs",
    "studio_ui.resources",
    "studio_ui.compare_charts",
    "studio_ui.localization_charts",
    "studio_ui.study_view",
    "studio_ui.tour_estimate",
    "studio_ui.tour_runs",
    "studio_ui.run_list",
    "studio_ui.widgets",
    "unlearn_core.methods.deletion",
)


def preload() -> None:
    """Import `PRELOADED_MODULES` into this process (a no-op for those already imported)."""
    for name in PRELOADED_MODULES:
        importlib.import_module(name)


def preload_or_say() -> None:
    """`preload`, where a module that fails to import (a broken install) is said in one line on
    stderr and the server starts anyway: the page that needs the module then shows the failure in
    its error boundary, instead of a traceback in the terminal and no server."""
    from unlearn_core.errors import failure_line

    try:
        preload()
    except Exception as err:
        print(f"Unlearning Studio: could not import everything at start ({failure_line(err)}); "
              "the pages will say what is missing", file=sys.stderr)


@asynccontextmanager
async def lifespan(_app: Any) -> AsyncIterator[None]:
    """The ``st.App`` lifespan: `preload_or_say` on a worker thread, awaited, before the server answers."""
    await asyncio.to_thread(preload_or_say)
    yield
