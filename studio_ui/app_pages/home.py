"""Home: what the studio does in three lines, and the three ways in (tour, own model, benchmarks)."""

from __future__ import annotations

import streamlit as st

from studio_ui.navigation import page_file
from unlearn_core.methods import list_methods

REFERENCE = "retrain"  # the gold standard every method is held against, not itself an unlearning method
n_methods = sum(1 for m in list_methods() if m.name != REFERENCE)
st.title(":material/auto_fix_high: Unlearning Studio")
st.markdown(
    "**Make a trained image classifier forget** some of its training data (a class, chosen images, a concept, "
    f"poisoned samples) with one of {n_methods} unlearning methods.  \n"
    "**See where and how it acts**: which layers a method changes, what the model still knows, how a "
    "membership attack sees the forgotten images.  \n"
    "**Check it against the gold standard**: a model retrained from scratch without that data."
)
c1, c2, c3 = st.columns(3)
with c1.container(border=True):
    st.markdown("#### :material/school: Guided tour")
    st.caption("One click: a digit classifier forgets every 3, with two methods held against retraining. "
               "Made for a live class.")
    st.page_link(page_file("tour"), label="Start the tour", icon=":material/play_arrow:")
with c2.container(border=True):
    st.markdown("#### :material/dataset: Your own model")
    st.caption("Load a dataset and a model (or train one), choose what it must forget, run a method, compare.")
    st.page_link(page_file("model_data"), label="Model & data", icon=":material/arrow_forward:")
with c3.container(border=True):
    st.markdown("#### :material/table_chart: Benchmark tables")
    st.caption("Every method against retraining on digits and shapes, over several seeds: how close, and how fast.")
    st.page_link(page_file("benchmarks"), label="Benchmarks", icon=":material/arrow_forward:")
