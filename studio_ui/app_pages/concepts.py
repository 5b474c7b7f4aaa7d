"""Concepts: what the model's features encode (CAV probes), a post-hoc concept bottleneck, the
class x concept Integrated-Gradients map, choosing a concept to forget, the poisoned images that
concept unlearning would train on, and pixel attributions before / after unlearning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch

from studio_ui import state
from studio_ui.charts import attribution_row, image_to_uint8, upscale
from studio_ui.concept_folders import probe_figure, render_folder_bank
from studio_ui.names import known_names, run_label
from studio_ui.navigation import page_file
from studio_ui.resources import (
    bottleneck_summary,
    concept_inference,
    current_dataset,
    current_model,
    current_workspace,
    get_dataset,
    get_model,
    get_run_models,
)
from studio_ui.widgets import image_grid, pct, user_errors
from unlearn_core.concepts import paste_concept, pixel_attributions, plan_poisoning
from unlearn_core.forget import resolve

CPU = torch.device("cpu")
st.title(":material/psychology: Concepts")
st.caption("Which human concepts (colour, pattern, size, background) the model's features encode, which ones "
           "each class relies on, and how a concept or class can be unlearned by poisoning the head.")

data = current_dataset()
if not data.concepts:
    st.info(f"{data.name} carries no concept labels. Switch to the built-in **shapes** dataset on Model & data, "
            "or build concept probes from folders of your own images below.")
    st.page_link(page_file("model_data"), label="Go to Model & data", icon=":material/dataset:")
    render_folder_bank()
    st.stop()
model, meta = current_model()
keys = (state.data_ref(), state.model_ref(), state.workspace_root())


@st.cache_resource(show_spinner="Integrated Gradients...")
def pixel_maps(data_ref, model_ref, root, run_id, chosen, steps):
    """Pixel IG of the chosen test images under the original model and, for a run, its unlearned
    and retrained models (cached: the tab's other widgets rerun the page)."""
    m, _ = get_model(data_ref, model_ref, root)
    models = {"original": m}
    if run_id is not None:
        unlearned, retrained = get_run_models(root, run_id)
        models["unlearned"] = unlearned
        if retrained is not None:
            models["retrain"] = retrained
    d = get_dataset(data_ref)
    idx = torch.as_tensor(chosen)
    return pixel_attributions(models, d.test.x[idx], d.test.y[idx], device=CPU, n_steps=steps)


baseline = st.radio(
    "IG baseline", ["mean", "zero"], horizontal=True,
    help="mean: the dataset's mean concept margins (recommended: attributions then say what is *present*); "
         "zero: the probes' decision planes, which also credits concepts that are absent.",
)
content = st.empty()  # replaced at once: the previous model's or baseline's figures never stay while these compute
with user_errors("Concept inference failed"):
    inference = concept_inference(*keys, baseline, content)
    bn = bottleneck_summary(*keys, content)
bank, attribution = inference.bank, inference.attribution
content = content.container()

tab_ig, tab_probes, tab_forget, tab_pixels = content.tabs(
    ["Class x concept", "Probes & bottleneck", "Forget a concept", "Pixel attributions"])

with tab_ig:
    matrix = attribution.matrix
    lim = float(np.abs(matrix).max()) or 1.0
    fig = go.Figure(go.Heatmap(z=matrix, x=attribution.concept_names, y=attribution.class_names, colorscale="RdBu_r",
                               zmin=-lim, zmax=lim, colorbar=dict(title="IG"),
                               hovertemplate="class %{y}<br>%{x}<br>attribution %{z:.3f}<extra></extra>"))
    fig.update_layout(title="Integrated Gradients of each class's bottleneck logit w.r.t. concept margins",
                      xaxis_title="concept", yaxis_title="class", height=140 + 40 * len(attribution.class_names),
                      xaxis_tickangle=-45, yaxis_autorange="reversed")  # first class on top, like the table below
    st.plotly_chart(fig, key="ig_heatmap")
    st.caption(f"Red: the concept pushes the model towards that class; blue: away from it (averaged over the class's "
               f"train images, baseline = {baseline}). Completeness error at most {attribution.max_delta:.1e}.")
    reliable = bank.accuracy >= 0.7
    rows = []
    for c, name in enumerate(attribution.class_names):
        top = attribution.top_concepts(c, 3, allowed=reliable)
        donor = attribution.suggest_donor(c, allowed=reliable)
        rows.append({"class": name, "top concepts": ", ".join(f"{n} ({v:+.2f})" for n, v in top),
                     "suggested donor class": attribution.class_names[donor.donor],
                     "shared concepts": ", ".join(donor.shared) or "–"})
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption("A donor class shares the target's top concepts: concept unlearning relabels the target's images "
               "as the donor and pastes the donor's concept onto them.")

with tab_probes:
    fig = probe_figure(bank)
    st.plotly_chart(fig, key="probes")
    st.caption("Each bar is a linear probe (concept vs no concept) tested on held-out images. Weak concepts sit near "
               "the grey random-label control and are ignored when choosing donors.")
    c = st.columns(4)
    c[0].metric("Original model", pct(bn["model_accuracy"]))
    c[1].metric("Concept bottleneck", pct(bn["bottleneck_accuracy"]), help="Sparse linear classifier on concept margins.")
    c[2].metric("Random directions (control)", pct(bn["random_directions_accuracy"]),
                help="The same bottleneck over as many random directions: accuracy alone does not prove concepts are used.")
    c[3].metric("Bottleneck sparsity", pct(bn["bottleneck_sparsity"]), help="Share of zero weights.")
    weights = inference.bottleneck.weight
    lim = float(np.abs(weights).max()) or 1.0
    fig = go.Figure(go.Heatmap(z=weights, x=inference.bottleneck.concept_names, y=attribution.class_names,
                               colorscale="RdBu_r", zmin=-lim, zmax=lim, colorbar=dict(title="weight")))
    fig.update_layout(title="Bottleneck weights (elastic net, mostly L1)", xaxis_title="concept", yaxis_title="class",
                      height=140 + 40 * len(attribution.class_names), xaxis_tickangle=-45)
    st.plotly_chart(fig, key="bn_weights")

with tab_forget:
    attr_names = list(data.concepts)
    c1, c2 = st.columns(2)
    attr = c1.selectbox("Concept attribute", attr_names)
    value = c2.selectbox("Value", data.concepts[attr])
    concept = f"{attr}={value}"
    b1, b2 = st.columns(2)
    # callbacks, not `if st.button(...)`: they run before the sidebar is drawn, so it shows the new set at once
    if b1.button(f"Forget every {value} sample (concept:{concept})", key="forget_concept",
                 on_click=state.set_forget_selection,
                 args=(state.ForgetSelection(f"concept:{concept}", f"every {value} ({attr}) sample"),)):
        st.success("Active forget set updated: run concept poisoning (or any method) on the Unlearn page.")
    target = b2.selectbox("...or forget a class by concept poisoning", range(data.num_classes),
                          format_func=lambda i: data.class_names[i])
    b2.button("Use this class as the forget set", key="forget_class", on_click=state.set_forget_selection,
              args=(state.ForgetSelection(f"class:{target}", f"class {data.class_names[target]}"),))
    selection = state.forget_selection()
    if selection is not None and selection.spec.split(":")[0] in ("class", "concept"):
        with user_errors("Could not plan the poisoning"):
            fs = resolve(selection.spec, data)
            plan = plan_poisoning(model, data, fs, device=CPU, inference=inference)
        st.markdown(f"**Poisoning plan for `{selection.spec}`**: relabel as "
                    f"**{data.class_names[plan.donor_class]}**"
                    + (f", paste **{plan.donor_concept}** where **{plan.target_concept}** is." if plan.can_paste
                       else ", images unchanged."))
        for note in plan.notes:
            st.caption(note)
        if plan.can_paste:
            shown = fs.forget_idx[:8]
            after = paste_concept(data, shown, plan.donor_concept)
            size = data.train.x.shape[-1]
            f = max(1, 64 // size)
            st.image([upscale(image_to_uint8(data.train.x[i].numpy()), f) for i in shown],
                     caption=[f"before #{i}" for i in shown], width=72)
            st.image([upscale(image_to_uint8(x.numpy()), f) for x in after],
                     caption=[f"poisoned → {data.class_names[plan.donor_class]}"] * len(after), width=72)
            st.caption("These are the images the head is finetuned on (with the retain data) before you run it.")
        st.page_link(page_file("unlearn"), label="Run concept poisoning on the Unlearn page", icon=":material/auto_fix_high:")

with tab_pixels:
    runs = current_workspace().list("run", dataset=data.name)
    entry = st.selectbox("Compare with a run (optional)", [None, *runs],
                         format_func=lambda e: "original model only" if e is None else run_label(
                             e, known_names(current_workspace(), data.name), data.class_names))
    pool = np.arange(len(data.test))
    run_id = None if entry is None else entry.id
    if entry is not None:
        fs = resolve(entry.info["forget"], data, entry.info["seed"])
        if fs.test_forget_idx is not None and len(fs.test_forget_idx):
            pool = fs.test_forget_idx
    candidates = pool[:200].tolist()
    st.caption("The first test images to choose from (the forgotten slice when a run is chosen):")
    image_grid(data, data.test, candidates[:12], columns=12,
               captions=[f"{i}: {data.class_names[int(data.test.y[i])]}" for i in candidates[:12]])
    chosen = st.multiselect("Test images", candidates, default=candidates[:3], max_selections=6,
                            format_func=lambda i: f"test image {i} ({data.class_names[int(data.test.y[i])]})")
    steps = st.select_slider("IG steps", [16, 32, 64, 128, 256], 64,
                             help="More steps make the attribution more exact (its completeness error falls) and take longer.")
    if chosen:
        maps = pixel_maps(*keys, run_id, tuple(chosen), steps)
        for k, i in enumerate(chosen):
            heat = {f"{name} (Δ {100 * pa.relative_delta[k]:.1f}%)": pa.heatmaps[k] for name, pa in maps.items()}
            st.plotly_chart(attribution_row(image_to_uint8(data.test.x[i].numpy()), heat,
                                            f"Test image #{i}, class {data.class_names[int(data.test.y[i])]}"),
                            key=f"pix_{i}")
        st.caption("Integrated Gradients of the true class's logit with respect to each pixel (red: supports the class, "
                   "blue: against it), black image baseline; Δ is the completeness error relative to the logit change.")
