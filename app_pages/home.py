"""Home: what the studio does in three lines, and the three ways in (tour, own model, benchmarks)."""

from __future__ import annotations

import streamlit as st

st.title(":material/auto_fix_high: Unlearning Studio")
st.markdown(
    "**Make a trained image classifier forget** some of its training data (a class, chosen images, a concept, "
    "poisoned samples) with one of 14 unlearning methods.  \n"
    "**See where and how it acts**: which layers a method changes, what the model still knows, how a "
    "membership attack sees the forgotten images.  \n"
    "**Check it against the gold standard**: a model retrained from scratch without that data."
)
c1, c2, c3 = st.columns(3)
with c1.container(border=True):
    st.markdown("#### :material/school: Guided tour")
    st.caption("One click: a digit classifier forgets every 3, with two methods held against retraining. "
               "Made for a live class.")
    st.page_link("app_pages/tour.py", label="Start the tour", icon=":material/play_arrow:")
with c2.container(border=True):
    st.markdown("#### :material/dataset: Your own model")
    st.caption("Load a dataset and a model (or train one), choose what it must forget, run a method, compare.")
    st.page_link("app_pages/model_data.py", label="Model & data", icon=":material/arrow_forward:")
with c3.container(border=True):
    st.markdown("#### :material/table_chart: Benchmark tables")
    st.caption("Every method against retraining on digits and shapes, 3 seeds: how close, and how fast.")
    st.page_link("app_pages/benchmarks.py", label="Benchmarks", icon=":material/arrow_forward:")
