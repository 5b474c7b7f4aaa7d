"""Unlearn: pick a method, set its parameters, run it in the background, see the result."""

from __future__ import annotations

import streamlit as st

from studio_ui import jobs, state
from studio_ui.compare_charts import headline_frame
from studio_ui.forms import config_form
from studio_ui.resources import current_dataset, current_model, current_workspace
from studio_ui.run_list import open_on_compare, run_list
from studio_ui.widgets import require_forget_set, user_errors
from unlearn_core.methods import list_methods

st.title(":material/auto_fix_high: Unlearn")
st.caption("Run an unlearning method on the active model and forget set. Every run is compared with "
           "the original model and with a model retrained without the forget set (the gold standard).")

data = current_dataset()
if state.forget_selection() is None:  # e.g. after a reload: the runs go on and are listed
    run_list("unlearn", dataset=data.name)
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
        jobs.start_unlearn_run(f"{info.title} forgetting {selection.description}",
                               jobs.request_for(selection.spec, name, config, seed=int(seed)))


def show_result(row) -> None:
    s = current_workspace().get(row.id).info
    st.dataframe(headline_frame(s))
    ratio = f"{s['time_ratio']:.2f}x" if s.get("time_ratio") else "–"
    st.caption(f"Average gap to retrain: {s['avg_gap']:.2f} points · {s['time_s']:.1f} s "
               f"({ratio} the retrain time; retrained model: {s.get('retrain_reason', 'n/a')}) · run {row.id}")
    open_on_compare(row, "unlearn")


run_list("unlearn", dataset=data.name, on_done=show_result)
