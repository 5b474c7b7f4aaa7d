"""Unlearn: pick a method, set its parameters, run it in the background, see the result."""

from __future__ import annotations

import streamlit as st

from studio_ui import jobs, state
from studio_ui.compare_charts import headline_frame
from studio_ui.forms import config_form
from studio_ui.method_docs import show_method_notes
from studio_ui.resources import current_dataset, current_device, current_model, current_workspace
from studio_ui.widgets import require_forget_set, user_errors
from unlearn_core.methods import list_methods

st.title(":material/auto_fix_high: Unlearn")
st.caption("Run an unlearning method on the active model and forget set. Every run is compared with "
           "the original model and with a model retrained without the forget set (the gold standard).")

data = current_dataset()
selection, forget = require_forget_set(data)
model, meta = current_model()
st.markdown(f"Forgetting **{selection.description}** (`{selection.spec}`): {forget.n_forget} samples, "
            f"{forget.n_retain} kept. Model: {meta.arch} on {data.name}.")

methods = list_methods()
usable = [m for m in methods if m.supports(forget.category)]
name = st.selectbox(
    "Method", [m.name for m in usable], format_func=lambda n: next(m.title for m in usable if m.name == n),
    help=f"Methods that support {forget.category} forgetting. "
         + (f"Not applicable here: {', '.join(m.title for m in methods if m not in usable)}."
            if len(usable) < len(methods) else ""),
)
info = next(m for m in usable if m.name == name)
with st.container(border=True):
    st.markdown(f"**{info.title}**: {info.summary}")
    st.caption(f"Paper: {info.paper}")
    show_method_notes(info)
    tags = [f"Touches: {info.touches}"]
    if not info.needs_forget_images:
        tags.append("never reads the forget images")
    if info.localized:
        tags.append("localized: its parameter mask is drawn on the Localization page")
    st.caption(" · ".join(tags))

with st.form(f"form_{name}"):
    values = config_form(info.config_cls, f"cfg_{name}")
    seed = st.number_input("Seed", 0, 10_000, 0, help="Seeds the method, random forget sets and the retrained oracle.")
    submitted = st.form_submit_button("Run", icon=":material/play_arrow:", type="primary")

if submitted:
    with user_errors("Invalid parameters"):
        config = info.config_cls(**values)
    jobs.start_unlearn_run(f"{info.title} forgetting {selection.description}", data, model, meta, selection.spec,
                           name, config, seed=int(seed), device=current_device(), workspace=current_workspace())


@st.fragment(run_every=1.0)
def show_jobs() -> None:
    """Live progress of this session's runs, with cancel buttons and the finished results."""
    ids = st.session_state.get("my_jobs", [])
    if not ids:
        return
    st.subheader("Runs")
    for job_id in reversed(ids):
        job = jobs.get(job_id)
        if job is None:
            continue
        with st.container(border=True):
            st.markdown(f"**{job.title}** · {job.elapsed():.0f} s")
            if job.status == "running":
                st.progress(job.fraction, text=job.message)
                if st.button("Cancel", key=f"cancel_{job.id}", icon=":material/cancel:"):
                    job.stop.set()
            elif job.status == "done":
                show_result(job.result)
            elif job.status == "cancelled":
                st.warning(job.message, icon=":material/cancel:")
            else:
                st.error(f"The run failed: {job.error}", icon=":material/error:")


def show_result(run_id: str) -> None:
    s = current_workspace().get(run_id).info
    state.remember_run(run_id)
    st.dataframe(headline_frame(s))
    ratio = f"{s['time_ratio']:.2f}x" if s.get("time_ratio") else "–"
    st.caption(f"Average gap to retrain: {s['avg_gap']:.2f} points · {s['time_s']:.1f} s "
               f"({ratio} the retrain time) · run {run_id}")
    st.page_link("app_pages/compare.py", label="Compare in detail", icon=":material/compare:")


show_jobs()
