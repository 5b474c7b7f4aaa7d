"""Unlearn: pick a method, set its parameters, run it in the background, see the result."""

from __future__ import annotations

import streamlit as st

from studio_ui import jobs, state
from studio_ui.compare_charts import headline_frame
from studio_ui.forget_check import flag_run
from studio_ui.forms import checked_number, config_form
from studio_ui.labels import format_value
from studio_ui.method_docs import show_method_notes
from studio_ui.names import EXTERNAL_TITLE
from studio_ui.resources import current_dataset, current_model, current_workspace
from studio_ui.run_list import open_on_compare, run_list
from studio_ui.study_view import run_gap_headline
from studio_ui.uploads import accept_unlearned
from studio_ui.widgets import require_forget_set, user_errors
from unlearn_core.methods import MethodInfo, list_methods, resolved_defaults
from unlearn_core.runs.records import RunRow

DEFAULT_METHOD = "del"  # a real unlearning method; the oracle is the reference, never the default
REFERENCE_METHOD = "retrain"


def method_label(m: MethodInfo) -> str:
    return f"{m.title}: the reference, not an unlearning method" if m.name == REFERENCE_METHOD else m.title


st.title(":material/auto_fix_high: Unlearn")
st.caption("Run an unlearning method on the active model and forget set. Every run is compared with "
           "the original model and with a model retrained without the forget set (the gold standard).")

def show_result(row: RunRow) -> None:
    """A finished run's card: its metric table, gap, timing, and the way to Compare."""
    s = current_workspace().get(row.id).info
    flag_run(current_workspace(), s)
    st.dataframe(headline_frame(s))
    if s.get("time_s") is None:  # unlearned elsewhere: its time is unknown
        timing = "unlearned elsewhere (time unknown)"
    else:
        timing = (f"{format_value('time_s', s['time_s'])} ({format_value('time_ratio', s.get('time_ratio'))} "
                  "the retrain time)")
    st.caption(f"Average {run_gap_headline(current_workspace(), s)} · {timing} · retrained model: "
               f"{s.get('retrain_reason', 'n/a')}", help=f"Run id `{row.id}` (the CLI's `--run`).")
    open_on_compare(row, "unlearn")


data = current_dataset()
if state.forget_selection() is None:  # e.g. after a reload: the runs go on and are listed
    run_list("unlearn", dataset=data.name, on_done=show_result)  # finished cards keep their metric tables
selection, forget = require_forget_set(data)
model, meta = current_model()
st.markdown(f"Forgetting **{selection.description}**: {forget.n_forget} samples (the forget set D_f), "
            f"{forget.n_retain} kept (the retain set D_r). Model: {meta.arch} on {data.name}.",
            help=f"Forget spec `{selection.spec}` (what runs store; the CLI's `--forget`).")

methods = list_methods()
usable = [m for m in methods if m.supports(forget.category)]
usable_names = [m.name for m in usable]
name = st.selectbox(
    "Method", usable_names, index=usable_names.index(DEFAULT_METHOD) if DEFAULT_METHOD in usable_names else 0,
    format_func=lambda n: method_label(next(m for m in usable if m.name == n)),
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

if name == REFERENCE_METHOD:
    st.info("This is the reference every method is compared with, not an unlearning method: it trains a new "
            "model from scratch without the forget set. Every run computes it once anyway.", icon=":material/info:")

problems: list[str] = []
with st.form(f"form_{name}"):
    values = config_form(info.config_cls, f"cfg_{name}", problems, auto=resolved_defaults(name, forget, meta))
    seed = checked_number("Seed", 0, low=0, high=10_000, integer=True, problems=problems,
                          help="Seeds the method, random forget sets and the retrained oracle.")
    submitted = st.form_submit_button("Run", icon=":material/play_arrow:", type="primary")

if submitted and problems:
    st.error("Not started: " + " ".join(problems), icon=":material/error:")
elif submitted:
    with user_errors("Invalid parameters"):
        config = info.config_cls(**values)
        jobs.start_unlearn_run(f"{info.title} forgetting {selection.description}",
                               jobs.request_for(selection.spec, name, config, seed=int(seed)))

with st.expander("Bring your own unlearned model", icon=":material/upload_file:"):
    st.caption("Unlearned this model with other code? Upload the result: it is evaluated on this forget set "
               "against the original and the retrained model exactly like the studio's own runs, and listed "
               f"below and on Compare as \"{EXTERNAL_TITLE}\" (its running time is unknown, so no time ratio).")
    unlearned = st.file_uploader(
        f"Unlearned checkpoint of the active {meta.arch} (.safetensors, or a .pt state dict of tensors)",
        type=["safetensors", "pt", "pth"], key="external_upload",
        help="Read as tensors only (safetensors, or torch.load with weights_only): no code inside a file is ever run.",
    )
    if unlearned is not None and st.button("Evaluate it", icon=":material/play_arrow:", key="external_go"):
        with user_errors("Checkpoint not evaluated"):  # it must load into the active architecture first
            path = accept_unlearned(current_workspace().root, unlearned.name, unlearned.getvalue(), meta)
            jobs.start_unlearn_run(f"{EXTERNAL_TITLE}: {unlearned.name}, forgetting {selection.description}",
                                   jobs.external_request(selection.spec, str(path), seed=0))


run_list("unlearn", dataset=data.name, on_done=show_result)
