"""Forget set: choose what the model must forget, see it, and keep it under a name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from studio_ui import state
from studio_ui.resources import current_dataset, current_workspace, get_train_embedding
from studio_ui.widgets import image_grid, user_errors
from unlearn_core.forget import resolve

st.title(":material/playlist_remove: Forget set")
st.caption("What must the model forget? Pick whole classes, single images, a region of the embedding, "
           "a random share, a concept, or the poisoned / mislabeled samples.")

data = current_dataset()
workspace = current_workspace()
y = data.train.y.numpy()
picked: set[int] = st.session_state.setdefault("picked", set())


def use(spec: str, description: str) -> None:
    """Make `spec` the active forget set (validated against the dataset first)."""
    with user_errors("This forget set cannot be used"):
        resolve(spec, data)
    state.set_forget_selection(state.ForgetSelection(spec, description))


def use_indices(indices: list[int], description: str) -> None:
    """Store explicit indices in the workspace and activate them as an indices: spec."""
    if not indices:
        st.warning("Select at least one sample first.")
        return
    entry = workspace.save_forget_set(description, data.name, None, np.asarray(sorted(indices)))
    use(f"indices:{entry.file('indices.txt')}", description)


tabs = st.tabs(["Classes", "Pick images", "Embedding", "Random", "Concept", "Flags", "Saved sets"])

with tabs[0]:
    classes = st.multiselect("Classes to forget", range(data.num_classes), format_func=lambda c: data.class_names[c])
    if st.button("Use these classes", disabled=not classes, key="use_classes"):
        use("class:" + ",".join(map(str, classes)), "classes " + ", ".join(data.class_names[c] for c in classes))

with tabs[1]:
    c1, c2, c3 = st.columns([2, 1, 1])
    show_class = c1.selectbox("Show class", ["all", *range(data.num_classes)],
                              format_func=lambda c: c if c == "all" else data.class_names[c])
    pool = np.arange(len(y)) if show_class == "all" else np.flatnonzero(y == show_class)
    per_page = 40
    pages = max(1, int(np.ceil(len(pool) / per_page)))
    page = c2.number_input("Page", 1, pages, 1, help=f"{pages} pages of {per_page}")
    c3.metric("Picked", len(picked))
    shown = pool[(page - 1) * per_page: page * per_page]
    cols = st.columns(10)
    for k, i in enumerate(shown):
        with cols[k % 10]:
            image_grid(data, data.train, [int(i)], columns=1)
            checked = st.checkbox("forget", value=int(i) in picked, key=f"pick_{data.name}_{i}")
            (picked.add if checked else picked.discard)(int(i))
    b1, b2 = st.columns(2)
    if b1.button("Use the picked images", disabled=not picked, key="use_picked"):
        use_indices(sorted(picked), f"{len(picked)} picked images")
    if b2.button("Clear picks", key="clear_picks"):
        picked.clear()
        st.rerun()

with tabs[2]:
    method = st.radio("Projection", ["pca", "umap"], horizontal=True,
                      help="PCA is instant; UMAP keeps neighbourhoods better but its first run compiles for ~10 s.")
    coords = get_train_embedding(state.data_ref(), state.model_ref(), state.workspace_root(), method)
    frame = pd.DataFrame({"x": coords[:, 0], "y": coords[:, 1], "index": np.arange(len(y)),
                          "class": [data.class_names[c] for c in y]})
    fig = px.scatter(frame, x="x", y="y", color="class", custom_data=["index"], hover_data=["index", "class"],
                     title=f"Train set in the model's feature space ({method.upper()})",
                     category_orders={"class": list(data.class_names)},
                     labels={"x": f"{method.upper()} 1", "y": f"{method.upper()} 2"})
    fig.update_traces(marker=dict(size=5, opacity=0.7))
    fig.update_layout(height=520, dragmode="select", legend_title="class")
    event = st.plotly_chart(fig, on_select="rerun", selection_mode=("box", "lasso"), key=f"embed_{method}")
    st.caption("Each point is one training image, placed by the model's penultimate features; nearby points "
               "look alike to the model. Drag a box to select samples (the lasso is in the chart's toolbar).")
    chosen = sorted({int(p["customdata"][0]) for p in event.selection.points}) if event and event.selection else []
    st.session_state["embedding_choice"] = chosen
    st.write(f"**{len(chosen)}** samples selected on the embedding.")
    if st.button("Use the selected samples", disabled=not chosen, key="use_embedding"):
        use_indices(chosen, f"{len(chosen)} samples selected on the {method.upper()} embedding")

with tabs[3]:
    frac = st.slider("Share of the train set", 0.01, 0.5, 0.1, 0.01)
    from_classes = st.multiselect("Only from classes (non-IID); empty = all classes", range(data.num_classes),
                                  format_func=lambda c: data.class_names[c])
    spec = f"random:{frac:g}" + ("@" + ",".join(map(str, from_classes)) if from_classes else "")
    st.caption(f"Spec: `{spec}` (drawn with the run's seed)")
    if st.button("Use a random set", key="use_random"):
        use(spec, f"random {frac:.0%}" + (" of classes " + ", ".join(map(str, from_classes)) if from_classes else ""))

with tabs[4]:
    if not data.concepts:
        st.info("This dataset carries no concept labels (the built-in shapes dataset does).")
    else:
        attr = st.selectbox("Concept", list(data.concepts))
        value = st.selectbox("Value", data.concepts[attr])
        if st.button("Forget everything with this concept", key="use_concept"):
            use(f"concept:{attr}={value}", f"every {value} ({attr}) sample")

with tabs[5]:
    flags = [k for k, v in data.train.meta.items() if v.dtype == bool]
    counts = {f: int(data.train.meta[f].sum()) for f in flags}
    if not any(counts.values()):
        st.info("No poisoned or mislabeled samples in this dataset. The shapes dataset can add them "
                "(options mislabeled_fraction, backdoor_fraction).")
    for flag in flags:
        if st.button(f"Forget the {counts[flag]} {flag} samples", disabled=counts[flag] == 0, key=f"use_{flag}"):
            use(f"flag:{flag}", f"the {flag} samples")

with tabs[6]:
    saved = workspace.list("forget_set", dataset=data.name)
    if not saved:
        st.info("No saved forget sets yet: save the active one below.")
    else:
        entry = st.selectbox("Saved set", saved, format_func=lambda e: f"{e.name} ({e.info['n']} samples)")
        if st.button("Use this saved set", key="use_saved"):
            use(f"indices:{entry.file('indices.txt')}", entry.name)

# -- the active set ------------------------------------------------------------------------
st.divider()
selection = state.forget_selection()
if selection is None:
    st.info("No forget set chosen yet.")
    st.stop()
with user_errors("The active forget set no longer fits this dataset"):
    fs = resolve(selection.spec, data)
st.subheader(f"Active forget set: {selection.description}")
c = st.columns(4)
c[0].metric("Forget", fs.n_forget)
c[1].metric("Retain", fs.n_retain)
c[2].metric("Share forgotten", f"{fs.n_forget / len(y):.1%}")
c[3].metric("Test counterpart", "–" if fs.test_forget_idx is None else len(fs.test_forget_idx))
st.caption(f"Spec `{selection.spec}`: runs store it, and the CLI accepts it as `--forget`.")
counts = np.bincount(y[fs.forget_idx], minlength=data.num_classes)
fig = px.bar(x=data.class_names, y=counts, labels={"x": "class", "y": "samples to forget"},
             title="Forget set: samples per class")
fig.update_layout(height=300, xaxis_type="category")
st.plotly_chart(fig, key="forget_counts")
image_grid(data, data.train, fs.forget_idx[:20])
with st.form("save_set"):
    name = st.text_input("Name", value=selection.description)
    if st.form_submit_button("Save this forget set", icon=":material/save:"):
        entry = workspace.save_forget_set(name, data.name, selection.spec, fs.forget_idx)
        st.success(f"Saved as {entry.id}.")
