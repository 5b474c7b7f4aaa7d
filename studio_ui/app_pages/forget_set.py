"""Forget set: choose what the model must forget, see it, and keep it under a name."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from studio_ui import state
from studio_ui.charts import CLASS_COLORS
from studio_ui.labels import format_number
from studio_ui.names import describe_spec, indices_spec, saved_names
from studio_ui.resources import current_dataset, current_workspace, train_embedding
from studio_ui.widgets import image_grid, user_errors
from unlearn_core.embed import describe_projection
from unlearn_core.forget import resolve

st.title(":material/playlist_remove: Forget set")
st.caption("What must the model forget? Pick whole classes, single images, a region of the embedding, "
           "a random share, a concept, or the poisoned / mislabeled samples.")

data = current_dataset()
workspace = current_workspace()
y = data.train.y.numpy()
picked: set[int] = st.session_state.setdefault("picked", set())


def use(spec: str, description: str) -> None:
    """Button callback: make `spec` the active forget set (validated against the dataset first).

    Callbacks run before the script, so the sidebar and every widget below read the new set in
    the same run (no page that is one click behind)."""
    try:
        resolve(spec, data)
    except ValueError as err:
        st.session_state["forget_error"] = f"This forget set cannot be used: {err}"
        return
    st.session_state.pop("forget_error", None)
    state.set_forget_selection(state.ForgetSelection(spec, description))


def use_indices(indices: list[int], description: str) -> None:
    """Button callback: activate explicit train indices (kept in a file named by their content, so
    using the same picks again adds nothing to the saved sets)."""
    use(indices_spec(workspace, indices), description)


def toggle_pick(index: int, key: str) -> None:
    """Checkbox callback: add or drop one image from the picks before the counter is drawn."""
    (picked.add if st.session_state[key] else picked.discard)(index)


def clear_picks() -> None:
    picked.clear()
    for key in [k for k in st.session_state if str(k).startswith(f"pick_{data.name}_")]:
        del st.session_state[key]


def save_active(selection: state.ForgetSelection, key: str) -> None:
    """Form callback: keep the active set under the typed name, and call the active set by it."""
    name = st.session_state.get(key, "").strip()
    if not name:
        st.session_state["forget_error"] = "Give the forget set a name before saving it."
        return
    if saved_names(workspace, data.name).get(selection.spec) != name:
        workspace.save_forget_set(name, data.name, selection.spec, resolve(selection.spec, data).forget_idx)
    state.set_forget_selection(state.ForgetSelection(selection.spec, name))
    st.session_state["forget_saved"] = f"Saved as “{name}”: it is the active forget set's name from now on."


def saved_spec(entry) -> str:
    """The spec a saved set is used under: its own spec, except random draws, which keep their indices."""
    spec = entry.info["spec"]
    return f"indices:{entry.file('indices.txt')}" if spec.startswith("random") else spec


tabs = st.tabs(["Classes", "Pick images", "Embedding", "Random", "Concept", "Flags", "Saved sets"])

with tabs[0]:
    classes = st.multiselect("Classes to forget", range(data.num_classes), format_func=lambda c: data.class_names[c])
    class_spec = "class:" + ",".join(map(str, classes))
    st.button("Use these classes", disabled=not classes, key="use_classes", on_click=use,
              args=(class_spec, describe_spec(class_spec, data.class_names)))

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
            key = f"pick_{data.name}_{i}"
            st.checkbox("forget", value=int(i) in picked, key=key, on_change=toggle_pick, args=(int(i), key))
    b1, b2 = st.columns(2)
    b1.button("Use the picked images", disabled=not picked, key="use_picked", on_click=use_indices,
              args=(sorted(picked), f"{len(picked)} picked images"))
    b2.button("Clear picks", key="clear_picks", on_click=clear_picks)

with tabs[2]:
    method = st.radio("Projection", ["pca", "umap"], horizontal=True,
                      help="PCA is instant; UMAP keeps neighbourhoods better but is slower: it is fitted on a "
                           "class-stratified sample of the train set and places the other images on that map (the "
                           "first UMAP after installing also compiles umap-learn's code, kept on disk for the next "
                           "ones). Either is computed once per model and kept in the workspace; a UMAP's progress "
                           "shows an estimate from the last one timed there.")
    plot = st.empty()  # replaced at once: the previous projection never stays while this one computes
    coords = train_embedding(state.data_ref(), state.model_ref(), state.workspace_root(), method, plot)
    frame = pd.DataFrame({"x": coords[:, 0], "y": coords[:, 1], "index": np.arange(len(y)),
                          "class": [data.class_names[c] for c in y]})
    fig = px.scatter(frame, x="x", y="y", color="class", custom_data=["index"], hover_data=["index", "class"],
                     title=f"Train set in the model's feature space ({method.upper()})",
                     category_orders={"class": list(data.class_names)}, color_discrete_sequence=CLASS_COLORS,
                     labels={"x": f"{method.upper()} 1", "y": f"{method.upper()} 2"})
    fig.update_traces(marker=dict(size=5, opacity=0.7))
    fig.update_layout(height=520, dragmode="select", legend_title="class")
    event = plot.plotly_chart(fig, on_select="rerun", selection_mode=("box", "lasso"), key=f"embed_{method}")
    st.caption("Each point is one training image, placed by the model's penultimate features; nearby points "
               "look alike to the model. Drag a box to select samples (the lasso is in the chart's toolbar). "
               + describe_projection(method, len(y)))
    chosen = sorted({int(p["customdata"][0]) for p in event.selection.points}) if event and event.selection else []
    st.session_state["embedding_choice"] = chosen
    st.write(f"**{len(chosen)}** samples selected on the embedding.")
    st.button("Use the selected samples", disabled=not chosen, key="use_embedding", on_click=use_indices,
              args=(chosen, f"{len(chosen)} samples selected on the {method.upper()} embedding"))

with tabs[3]:
    frac = st.slider("Share of the train set", 0.01, 0.5, 0.1, 0.01)
    from_classes = st.multiselect("Only from classes (non-IID); empty = all classes", range(data.num_classes),
                                  format_func=lambda c: data.class_names[c])
    spec = f"random:{frac:g}" + ("@" + ",".join(map(str, from_classes)) if from_classes else "")
    st.caption(f"Spec: `{spec}` (drawn with the run's seed)")
    st.button("Use a random set", key="use_random", on_click=use, args=(spec, describe_spec(spec, data.class_names)))

with tabs[4]:
    if not data.concepts:
        st.info("This dataset carries no concept labels (the built-in shapes dataset does).")
    else:
        attr = st.selectbox("Concept", list(data.concepts))
        value = st.selectbox("Value", data.concepts[attr])
        st.button("Forget everything with this concept", key="use_concept", on_click=use,
                  args=(f"concept:{attr}={value}", f"every {value} ({attr}) sample"))

with tabs[5]:
    flags = [k for k, v in data.train.meta.items() if v.dtype == bool]
    counts = {f: int(data.train.meta[f].sum()) for f in flags}
    if not any(counts.values()):
        st.info("No poisoned or mislabeled samples in this dataset. The shapes dataset can add them "
                "(options mislabeled_fraction, backdoor_fraction).")
    for flag in flags:
        st.button(f"Forget the {counts[flag]} {flag} samples", disabled=counts[flag] == 0, key=f"use_{flag}",
                  on_click=use, args=(f"flag:{flag}", f"the {flag} samples"))

with tabs[6]:
    saved = workspace.list("forget_set", dataset=data.name)
    if not saved:
        st.info("No saved forget sets yet: save the active one below.")
    else:
        entry = st.selectbox("Saved set", saved, format_func=lambda e: f"{e.name} ({e.info['n']} samples)")
        st.caption(f"Spec `{entry.info['spec']}`")
        st.button("Use this saved set", key="use_saved", on_click=use, args=(saved_spec(entry), entry.name))

# -- the active set ------------------------------------------------------------------------
st.divider()
if "forget_error" in st.session_state:
    st.error(st.session_state.pop("forget_error"), icon=":material/error:")
if "forget_saved" in st.session_state:
    st.success(st.session_state.pop("forget_saved"), icon=":material/save:")
selection = state.forget_selection()
if selection is None:
    st.info("No forget set chosen yet.")
    st.stop()
with user_errors("The active forget set no longer fits this dataset"):
    fs = resolve(selection.spec, data)
st.subheader(f"Active forget set: {selection.description}", help=f"Spec `{selection.spec}`")
c = st.columns(4)
c[0].metric("Forget", fs.n_forget)
c[1].metric("Retain", fs.n_retain)
c[2].metric("Share forgotten", format_number(fs.n_forget / len(y), percent=True))
c[3].metric("Test counterpart", "–" if fs.test_forget_idx is None else len(fs.test_forget_idx))
st.caption(f"Spec `{selection.spec}`: runs store it, and the CLI accepts it as `--forget`.")
counts = np.bincount(y[fs.forget_idx], minlength=data.num_classes)
fig = px.bar(x=data.class_names, y=counts, labels={"x": "class", "y": "samples to forget"},
             title="Forget set: samples per class")
fig.update_layout(height=300, xaxis_type="category", yaxis_rangemode="tozero")
fig.update_yaxes(tickformat="d", dtick=1 if counts.max() <= 10 else None)  # counts: whole numbers only
st.plotly_chart(fig, key="forget_counts")
image_grid(data, data.train, fs.forget_idx[:20])
with st.form("save_set"):
    name_key = f"save_name_{hashlib.sha256(selection.spec.encode()).hexdigest()[:8]}"
    st.text_input("Name", value=selection.description, key=name_key,
                  help="Saving names the active set: the sidebar, Unlearn, Compare and the reports use this name.")
    st.form_submit_button("Save this forget set", icon=":material/save:", on_click=save_active,
                          args=(selection, name_key))
