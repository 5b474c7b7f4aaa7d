"""Benchmarks: the stored tables of every method against retraining (benchmarks/results.md)."""

from __future__ import annotations

import streamlit as st

from studio_ui.benchmarks_view import results_blocks
from studio_ui.shipped_files import BENCHMARK_TABLES

RESULTS = BENCHMARK_TABLES

st.title(":material/table_chart: Benchmarks")
st.caption("Written by `python benchmarks/run_benchmarks.py` (CPU, 3 seeds). Read each method's average gap to "
           "the retrained model (lower is better) next to its time as a share of retraining (lower is faster).")
if RESULTS.exists():
    for block in results_blocks(RESULTS.read_text()):
        if block.table is not None:
            st.table(block.table.set_index(block.table.columns[0]))  # static: wraps to the column, no cut-off
        else:
            st.markdown(block.text)
else:
    st.info("No benchmark tables in this copy: run `python benchmarks/run_benchmarks.py --suite digits`.")
