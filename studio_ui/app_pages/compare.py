"""Compare: unlearned vs original vs retrained, per metric, per class, in embedding space, by MIA
score; several runs side by side; export."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from studio_ui import state
from studio_ui.compare_charts import (
    EMBEDDING_CAPTION,
    MIA_CAPTION,
    PER_CLASS_CAPTION,
    comparison_values,
    embedding_figure,
    metric_frame,
    mia_chance_note,
    mia_figure,
    run_per_class_figure,
)
from studio_ui.forget_check import flag_run
from studio_ui.history import history_view
from studio_ui.html_report import run_report_html, versus_report_html
from studio_ui.inspect_view import render_inspection
from studio_ui.labels import format_value, metric_label
from studio_ui.names import display_name, known_names, method_titles
from studio_ui.navigation import page_file
from studio_ui.resources import comparison_view, current_dataset, current_model, current_workspace
from studio_ui.run_list import run_list
from studio_ui.study_view import noise_floor_of, run_gap_headline, study_of_run, study_panel
from studio_ui.versus_view import render_versus, settings_text
from studio_ui.widgets import scroll_to_top, user_errors
from unlearn_core.embed import UMAP_EPOCHS
from unlearn_core.inspect.overview import COMPARISON_HELP, history_rows
from unlearn_core.inspect.versus import comparable_runs
from unlearn_core.models import state_digest

st.title(":material/compare: Compare")
st.caption("The goal of unlearning is to look like the model retrained without the forget set: "
           "compare every figure with the retrained model's, not with 0 or 100%.")

if st.session_state.pop("compare_scroll_top", False):  # opened by "Compare in detail" from far down Unlearn
    scroll_to_top()
data = current_dataset()
workspace = current_workspace()
run_list("compare", dataset=data.name, title="Running", active_only=True)
runs = workspace.list("run", dataset=data.name)
if not runs:
    st.info("No runs yet for this dataset.")
    st.page_link(page_file("unlearn"), label="Run a method", icon=":material/auto_fix_high:")
    st.stop()

by_id = {e.id: e for e in runs}  # newest first
names = known_names(workspace, data.name)
titles = method_titles()  # registry titles, and one name for an uploaded checkpoint (studio_ui.names)


def forget_name(run: str) -> str:
    return display_name(by_id[run].info["forget"], names, data.class_names)


def training_seed(run: str) -> str:
    """' (training seed N)' for a seed study's member trained at another seed than the request's."""
    info = by_id[run].info
    return f" (training seed {info['train_seed']})" if info.get("train_seed", info["seed"]) != info["seed"] else ""


# -- history and export -------------------------------------------------------------------------
def run_history() -> None:
    """The stored runs side by side, with CSV / JSON export."""
    st.subheader("Run history")
    history = pd.DataFrame(history_rows(runs))
    picked = st.multiselect("Runs side by side", history["run"].tolist(), default=history["run"].tolist()[:5],
                            format_func=lambda i: f"{titles.get(by_id[i].info['method'], by_id[i].info['method'])} · "
                                                  f"{forget_name(i)} · {i}")
    table = history[history["run"].isin(picked)] if picked else history
    shown = history_view(table, lambda spec: display_name(spec, names, data.class_names),
                         gap_text=lambda run: run_gap_headline(workspace, by_id[run].info, compact=True))
    st.table(shown.set_index("run"))
    st.caption("Each metric cell: unlearned / retrained (reference), in percent. The downloads keep the stored "
               "fractions and specs.")
    c1, c2 = st.columns(2)
    c1.download_button("Download CSV", table.to_csv(index=False), "unlearning_runs.csv", "text/csv",
                       icon=":material/download:")
    c2.download_button("Download JSON", json.dumps([by_id[r].info for r in table["run"]], indent=2),
                       "unlearning_runs.json", "application/json", icon=":material/download:")


# the picker's own state is dropped by Streamlit on any other page: the choice is kept beside it ("compare_chosen")
# and restored; "Compare in detail" writes the picker's key before the page runs, and that wins
if st.session_state.get("compare_run") not in by_id:
    kept = st.session_state.get("compare_chosen")
    mine = [r for r in by_id if r in st.session_state.get("compare_runs", [])]
    st.session_state["compare_run"] = kept if kept in by_id else mine[0] if mine else next(iter(by_id))
run_id = st.selectbox(
    "Run", list(by_id), key="compare_run",
    format_func=lambda i: f"{titles.get(by_id[i].info['method'], by_id[i].info['method'])} forgetting "
                          f"{forget_name(i)} · seed {by_id[i].info['seed']}{training_seed(i)} · {i}",
    help="Newest first. The forget set's spec is shown under the picker.",
)
st.session_state["compare_chosen"] = run_id
entry = by_id[run_id]
s = entry.info
st.markdown(f"**{titles.get(s['method'], s['method'])}** forgetting **{forget_name(run_id)}** ({s['n_forget']} "
            f"samples) on {s['dataset']} with {s['model']}, seed {s['seed']}, device {s.get('device', '?')}.",
            help=f"Forget spec `{s['forget']}`")

# -- A vs B: another run on the same forget set --------------------------------------------------
others = [e.id for e in comparable_runs(runs, s, exclude=run_id)]
if st.session_state.get("compare_run_b") not in ["", *others]:  # widget state dropped on other pages: restore
    kept = st.session_state.get("compare_chosen_b")
    st.session_state["compare_run_b"] = kept if kept in others else ""
run_b = st.selectbox(
    "Against run B (same forget set)", ["", *others], key="compare_run_b",
    format_func=lambda i: "none: this run against the original and the retrained model" if not i else
    f"{titles.get(by_id[i].info['method'], by_id[i].info['method'])} · {settings_text(by_id[i].info)} · {i}",
    help="Runs on the same dataset, starting model, forget set and seed as the run above (A): any method, or the "
         "same method with other settings. Both are read against the one retrained model.",
    disabled=not others)
st.session_state["compare_chosen_b"] = run_b
if not others:
    st.caption("No other run on this forget set yet: run another method (or other settings) on it to compare A vs B.")
if run_b:
    original, _ = current_model()
    if state_digest(original) != s.get("model_digest"):
        st.warning("These runs started from another model than the active one: choose that model on Model & data "
                   "to compare them.")
    else:
        b_info = by_id[run_b].info
        labels = {"a": f"A: {titles.get(s['method'], s['method'])}", "b": f"B: {titles.get(b_info['method'], b_info['method'])}"}
        st.markdown(f"**{labels['a']}** ({settings_text(s)}) against **{labels['b']}** ({settings_text(b_info)}), "
                    f"both forgetting **{forget_name(run_id)}**, read against the one retrained model.",
                    help=f"A = run {run_id}, B = run {run_b}")
        shown_versus = render_versus(run_id, run_b, labels)
        st.download_button(
            "Download A vs B as an HTML report", lambda: versus_report_html(
                shown_versus["versus"], labels, shown_versus["studies"], forget_name=forget_name(run_id),
                dataset=s["dataset"], cka=shown_versus["cka"]),
            f"unlearning_{run_id}_vs_{run_b}.html", "text/html", icon=":material/description:", on_click="ignore",
            help="One self-contained file (opens offline) with the A vs B table, figures and disagreement list.")
    run_history()
    st.stop()
flag_run(workspace, s)  # a run that forgot nothing is flagged (studio_ui.forget_check)

# -- metrics table ---------------------------------------------------------------------------
frame = metric_frame(s)
st.subheader("Metrics")
# a static table wraps its text (no column is cut off at any width); two decimals, as the figures are read
st.table(frame.set_index("metric").style.format(precision=2, na_rep="–"))
if note := mia_chance_note(s):
    st.warning(note, icon=":material/casino:")
versus = comparison_values(s)
cols = st.columns(3) + st.columns(3)  # two rows: the labels stay whole
for col, (key, (what, direction)) in zip(cols, COMPARISON_HELP.items(), strict=True):
    col.metric(metric_label(key), format_value(key, versus.get(key)), help=f"{what}; {direction}.")
st.markdown(f"**Closeness to retraining**: {run_gap_headline(workspace, s)}.",
            help="The average gap is the mean distance in points over the headline metrics. The floor is what two "
                 "models retrained at different seeds already differ by (from a seed study of this request), so a "
                 "gap near the floor is as close as retraining gets to itself.")
st.caption("Average gap, Tug-of-War and the other terms are explained in the sidebar's Glossary.")
st.caption(("Unlearned elsewhere (external checkpoint)" if s["time_s"] is None else f"Method {s['time_s']:.1f} s")
           + f", retraining {s['retrain_time_s']:.1f} s"
           + (f" (measured {s['retrain_measured_at']} on {s['retrain_device']})" if s.get("retrain_measured_at") else "")
           + (f"; retrained model: {s['retrain_reason']}." if s.get("retrain_reason") else
              " (retrained model reused from the workspace)." if s.get("retrain_reused") else "."))

# -- seed study --------------------------------------------------------------------------------
original, _ = current_model()
same_model = state_digest(original) == s.get("model_digest")
st.subheader("Against retraining's own spread (seed study)")
if s["method"] == "external":
    st.caption("A seed study reruns the method at K seeds; a model unlearned elsewhere cannot be rerun here.")
else:
    study_panel(s, data, "cmp", can_start=same_model,
                why_not="This run started from another model than the active one: choose that model on Model & data "
                        "to run a study of it.")

# -- per-class --------------------------------------------------------------------------------
per_class = run_per_class_figure(s, data.class_names)
st.plotly_chart(per_class, key="pc")
st.caption(PER_CLASS_CAPTION)

# -- embedding and MIA distributions ----------------------------------------------------------
if not same_model:
    st.warning("This run started from another model than the active one: choose that model on "
               "Model & data to see embeddings and score distributions.")
    st.stop()


projection = st.radio("Projection", ["pca", "umap"], horizontal=True, key="cmp_proj",
                      help=f"PCA is instant. UMAP is fitted on the original model's outputs ({UMAP_EPOCHS} epochs on "
                           "exact nearest neighbours); the unlearned and retrained models' outputs are placed on that "
                           "map by UMAP's transform. Either is computed once per run and kept in the workspace.")
figures = st.empty()  # replaced at once: another run's or projection's figures never stay while these compute
with user_errors("Could not compute the comparison"):
    v = comparison_view(state.data_ref(), state.model_ref(), state.workspace_root(), run_id, projection, figures)
embedding, mia = embedding_figure(v, projection), mia_figure(v)
with figures.container():
    st.subheader("Where the forget samples go")
    st.plotly_chart(embedding, key="embed_cmp")
    st.caption(EMBEDDING_CAPTION)
    st.subheader("Membership-inference scores")
    st.plotly_chart(mia, key="mia_hist")
    st.caption(MIA_CAPTION)
inspection = render_inspection(run_id)
study_found = study_of_run(workspace, s)
st.download_button(
    "Download this run as an HTML report", lambda: run_report_html(
        run_id, s, frame, [(per_class, PER_CLASS_CAPTION), (embedding, EMBEDDING_CAPTION), (mia, MIA_CAPTION)],
        inspection, forget_name=forget_name(run_id), noise_floor=noise_floor_of(workspace, s),
        study=study_found.info if study_found else None),
    f"unlearning_report_{run_id}.html", "text/html", icon=":material/description:", on_click="ignore",
    help="One self-contained file (opens offline) with the metric table, these figures and the method's settings.",
)

run_history()
