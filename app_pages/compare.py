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
    mia_figure,
    run_per_class_figure,
)
from studio_ui.html_report import run_report_html
from studio_ui.resources import current_dataset, current_model, current_workspace, get_comparison_view
from studio_ui.widgets import user_errors
from unlearn_core.models import state_digest
from unlearn_core.report import COMPARISON_HELP, history_rows

st.title(":material/compare: Compare")
st.caption("The goal of unlearning is to look like the model retrained without the forget set: "
           "compare every figure with the retrained model's, not with 0 or 100%.")

data = current_dataset()
workspace = current_workspace()
runs = workspace.list("run", dataset=data.name)
if not runs:
    st.info("No runs yet for this dataset.")
    st.page_link("app_pages/unlearn.py", label="Run a method", icon=":material/auto_fix_high:")
    st.stop()

by_id = {e.id: e for e in runs}
recent = [r for r in st.session_state.get("compare_runs", []) if r in by_id]
run_id = st.selectbox("Run", list(by_id), index=list(by_id).index(recent[0]) if recent else 0,
                      format_func=lambda i: f"{by_id[i].name} ({i})")
entry = by_id[run_id]
s = entry.info
st.markdown(f"**{s['method']}** forgetting `{s['forget']}` ({s['n_forget']} samples) on {s['dataset']} "
            f"with {s['model']}, seed {s['seed']}, device {s.get('device', '?')}.")

# -- metrics table ---------------------------------------------------------------------------
frame = metric_frame(s)
st.subheader("Metrics")
st.dataframe(frame, hide_index=True)
versus = comparison_values(s)
cols = st.columns(len(COMPARISON_HELP))
for col, (key, (what, direction)) in zip(cols, COMPARISON_HELP.items(), strict=True):
    value = versus.get(key)
    col.metric(key.removesuffix("_frac").replace("_", " "), "–" if value is None else f"{value:.3g}", help=f"{what}; {direction}.")
st.caption(f"Method {s['time_s']:.1f} s, retraining {s['retrain_time_s']:.1f} s"
           + (" (retrained model reused from the workspace)." if s.get("retrain_reused") else "."))

# -- per-class --------------------------------------------------------------------------------
per_class = run_per_class_figure(s, data.class_names)
st.plotly_chart(per_class, key="pc")
st.caption(PER_CLASS_CAPTION)

# -- embedding and MIA distributions ----------------------------------------------------------
original, _ = current_model()
if state_digest(original) != s.get("model_digest"):
    st.warning("This run started from another model than the active one: choose that model on "
               "Model & data to see embeddings and score distributions.")
    st.stop()


projection = st.radio("Projection", ["pca", "umap"], horizontal=True, key="cmp_proj")
with user_errors("Could not compute the comparison"):
    v = get_comparison_view(state.data_ref(), state.model_ref(), state.workspace_root(), run_id, projection)
st.subheader("Where the forget samples go")
embedding = embedding_figure(v, projection)
st.plotly_chart(embedding, key="embed_cmp")
st.caption(EMBEDDING_CAPTION)

st.subheader("Membership-inference scores")
mia = mia_figure(v)
st.plotly_chart(mia, key="mia_hist")
st.caption(MIA_CAPTION)
st.download_button(
    "Download this run as an HTML report", lambda: run_report_html(
        run_id, s, frame, [(per_class, PER_CLASS_CAPTION), (embedding, EMBEDDING_CAPTION), (mia, MIA_CAPTION)]),
    f"unlearning_report_{run_id}.html", "text/html", icon=":material/description:", on_click="ignore",
    help="One self-contained file (opens offline) with the metric table, these figures and the method's settings.",
)

# -- history and export -------------------------------------------------------------------------
st.subheader("Run history")
history = pd.DataFrame(history_rows(runs))
picked = st.multiselect("Runs side by side", history["run"].tolist(), default=history["run"].tolist()[:5])
table = history[history["run"].isin(picked)] if picked else history
st.dataframe(table, hide_index=True)
c1, c2 = st.columns(2)
c1.download_button("Download CSV", table.to_csv(index=False), "unlearning_runs.csv", "text/csv",
                   icon=":material/download:")
c2.download_button("Download JSON", json.dumps([by_id[r].info for r in table["run"]], indent=2),
                   "unlearning_runs.json", "application/json", icon=":material/download:")
