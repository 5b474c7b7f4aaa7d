"""Compare: unlearned vs original vs retrained, per metric, per class, in embedding space, by MIA
score; several runs side by side; export."""

from __future__ import annotations

import json

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from studio_ui.charts import MODEL_COLORS, per_class_bars
from studio_ui.resources import current_dataset, current_model, current_workspace
from studio_ui.widgets import user_errors
from unlearn_core.models import state_digest
from unlearn_core.report import COMPARISON_HELP, METRIC_HELP, comparison_view, history_rows, run_models

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
rows = []
for key, (label, what, direction) in METRIC_HELP.items():
    vals = [s["details"][who].get(key) for who in ("original", "unlearned", "retrain")]
    if all(v is None for v in vals):
        continue
    rows.append([label, *[None if v is None else round(100 * v, 2) for v in vals], what, direction])
frame = pd.DataFrame(rows, columns=["metric", "original (%)", "unlearned (%)", "retrain (%)", "what it measures", "how to read"])
st.subheader("Metrics")
st.dataframe(frame, hide_index=True)
versus = {**s.get("versus_retrain", {}), "params_changed_frac": s.get("params_changed_frac"), "time_ratio": s.get("time_ratio")}
cols = st.columns(len(COMPARISON_HELP))
for col, (key, (what, direction)) in zip(cols, COMPARISON_HELP.items(), strict=True):
    value = versus.get(key)
    col.metric(key.removesuffix("_frac").replace("_", " "), "–" if value is None else f"{value:.3g}", help=f"{what}; {direction}.")
st.caption(f"Method {s['time_s']:.1f} s, retraining {s['retrain_time_s']:.1f} s"
           + (" (retrained model reused from the workspace)." if s.get("retrain_reused") else "."))

# -- per-class --------------------------------------------------------------------------------
series = {who: s["details"][who]["per_class_test_acc"] for who in ("original", "unlearned", "retrain")}
st.plotly_chart(per_class_bars(s.get("class_names", data.class_names), series, "Test accuracy per class"), key="pc")
st.caption("Bars of the unlearned model should match the retrained model's, class by class.")

# -- embedding and MIA distributions ----------------------------------------------------------
original, _ = current_model()
if state_digest(original) != s.get("model_digest"):
    st.warning("This run started from another model than the active one: choose that model on "
               "Model & data to see embeddings and score distributions.")
    st.stop()


@st.cache_resource(show_spinner="Projecting the three models' outputs...")
def view(run: str, projection: str):
    unlearned, retrained = run_models(workspace, by_id[run])
    models = {"original": original, "unlearned": unlearned}
    if retrained is not None:
        models["retrain"] = retrained
    return comparison_view(data, by_id[run].info["forget"], by_id[run].info["seed"], models, projection=projection)


projection = st.radio("Projection", ["pca", "umap"], horizontal=True, key="cmp_proj")
with user_errors("Could not compute the comparison"):
    v = view(run_id, projection)
st.subheader("Where the forget samples go")
fig = go.Figure()
colors = MODEL_COLORS
test_rows = ~v.is_forget
fig.add_scatter(x=v.coords["original"][test_rows, 0], y=v.coords["original"][test_rows, 1], mode="markers",
                name="test samples (original model)", marker=dict(size=4, color="#c7c7c7"))
for who, xy in v.coords.items():
    fig.add_scatter(x=xy[v.is_forget, 0], y=xy[v.is_forget, 1], mode="markers", name=f"forget samples, {who}",
                    marker=dict(size=6, color=colors[who], opacity=0.8))
f_orig, f_unl = v.coords["original"][v.is_forget], v.coords["unlearned"][v.is_forget]
step = max(1, len(f_orig) // 150)
xs, ys = [], []
for a, b in zip(f_orig[::step], f_unl[::step], strict=True):
    xs += [a[0], b[0], None]
    ys += [a[1], b[1], None]
fig.add_scatter(x=xs, y=ys, mode="lines", name="movement original → unlearned",
                line=dict(color="rgba(214,39,40,0.25)", width=1))
fig.update_layout(height=560, title=f"Model outputs on one shared {projection.upper()} projection",
                  xaxis_title=f"{projection.upper()} 1", yaxis_title=f"{projection.upper()} 2")
st.plotly_chart(fig, key="embed_cmp")
st.caption("Each point is a sample's predicted class probabilities (log scale), mapped with one projection "
           "fitted on the original model. Grey: test samples. Lines show how far unlearning moved forget samples; "
           "the unlearned (red) points should land where the retrained (green) ones are.")

st.subheader("Membership-inference scores")
fig = go.Figure()
for who, conf in v.confidence.items():
    fig.add_histogram(x=conf["forget"], name=f"forget set, {who}", opacity=0.6, nbinsx=30, histnorm="probability",
                      marker_color=colors[who])
fig.add_histogram(x=v.confidence["original"]["test"], name="test set, original", opacity=0.4, nbinsx=30,
                  histnorm="probability", marker_color="#7f7f7f")
fig.update_layout(barmode="overlay", height=380, title="True-label confidence on the forget set",
                  xaxis_title="confidence in the true label", yaxis_title="share of samples")
st.plotly_chart(fig, key="mia_hist")
st.caption("The attack calls high-confidence samples members. After unlearning, the forget set's confidences "
           "should look like the retrained model's (and like unseen test samples), not like the original's.")

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
