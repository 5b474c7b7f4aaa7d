"""Unlearning Studio: `streamlit run app.py`. Navigation and the shared sidebar; pages in app_pages/."""

from __future__ import annotations

import streamlit as st

from studio_ui import state
from studio_ui.error_boundary import run_page
from studio_ui.labels import glossary_expander
from studio_ui.workspace_input import workspace_input
from unlearn_core.device import available_devices

st.set_page_config(page_title="Unlearning Studio", page_icon=":material/auto_fix_high:", layout="wide")

PAGES = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/tour.py", title="Guided tour", icon=":material/school:"),
    st.Page("app_pages/model_data.py", title="Model & data", icon=":material/dataset:"),
    st.Page("app_pages/forget_set.py", title="Forget set", icon=":material/playlist_remove:"),
    st.Page("app_pages/localization.py", title="Localization", icon=":material/frame_inspect:"),
    st.Page("app_pages/concepts.py", title="Concepts", icon=":material/psychology:"),
    st.Page("app_pages/unlearn.py", title="Unlearn", icon=":material/auto_fix_high:"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/compare:"),
    st.Page("app_pages/benchmarks.py", title="Benchmarks", icon=":material/table_chart:"),
]

with st.sidebar:
    st.markdown("### :material/auto_fix_high: Unlearning Studio")
    _defaults = (state.workspace_root(), state.device_choice())  # set before the widgets bind to them
    workspace_input()
    st.selectbox(
        "Device", ["auto", *available_devices()], key="device_choice",
        help="auto picks cuda, then mps, then cpu.",
    )
    ref = state.data_ref()
    st.caption(f"Dataset: **{ref.name}** · model: {state.model_ref().label()}")
    selection = state.forget_selection()
    if selection:
        st.caption(f"Forget set: **{selection.description}**", help=f"Spec `{selection.spec}`")
    else:
        st.caption("Forget set: none chosen yet")
    glossary_expander()

nav = st.navigation(PAGES)
run_page(nav)  # the error boundary: one line and a way back instead of a traceback
