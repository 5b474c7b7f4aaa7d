"""Localization: where in the network a method acts. Parameter masks (DEL, SalUn and controls),
Partial-PGD on the last layer's features, and UNSIR's learned noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from studio_ui import state
from studio_ui.charts import image_to_uint8, upscale
from studio_ui.labels import format_number
from studio_ui.localization_charts import (
    attack_arrows,
    channel_heatmap,
    dimension_bars,
    layer_share_bars,
    noise_to_image,
    shared_score_range,
)
from studio_ui.localization_runs import del_settings, mask_counts, mask_jaccard
from studio_ui.names import known_names, run_label
from studio_ui.navigation import page_file
from studio_ui.resources import (
    current_dataset,
    current_model,
    current_workspace,
    get_dataset,
    get_mask,
    get_model,
    get_run_artifacts,
    get_workspace,
)
from studio_ui.widgets import pct, require_forget_set, user_errors
from unlearn_core.embed import fit_projection
from unlearn_core.forget import resolve
from unlearn_core.inspect.overview import stage_test_accuracy
from unlearn_core.localize import GRANULARITIES, LOCALIZERS, attack_features, mask_overlap
from unlearn_core.models import state_digest
from unlearn_core.train import extract_features

st.title(":material/frame_inspect: Localization")
st.caption("Where in the network does unlearning act? Compare the parameters different localizers select "
           "for the active forget set, watch Partial-PGD push forget features across the decision boundary, "
           "and look at the noise UNSIR learns.")

data = current_dataset()
selection, forget = require_forget_set(data)
model, meta = current_model()


@st.cache_resource(show_spinner="Running Partial-PGD on the forget features...")
def cached_attack(data_ref, model_ref, root, spec, eps_rel, steps):
    m, _ = get_model(data_ref, model_ref, root)
    d = get_dataset(data_ref)
    fs = resolve(spec, d)
    idx = fs.forget_idx[:400]
    z = extract_features(m, d.train.x[idx])
    attack = attack_features(m.head, z, d.train.y[idx], eps_rel=eps_rel, steps=steps)
    _, before = fit_projection(np.concatenate([attack.z.numpy(), attack.z_adv.numpy()]), "pca")
    n = len(idx)
    return attack, before[:n], before[n:]


@st.cache_resource(show_spinner="Evaluating UNSIR's stages...")
def cached_stages(data_ref, model_ref, root, run_id):
    """Test accuracy after impair and after repair (cached: every tab's code reruns on each click)."""
    m, _ = get_model(data_ref, model_ref, root)
    return stage_test_accuracy(get_workspace(root).get(run_id), get_dataset(data_ref), m)


tab_masks, tab_pgd, tab_unsir = st.tabs(["Parameter masks", "Partial-PGD (last layer)", "UNSIR noise"])
keys = (state.data_ref(), state.model_ref(), state.workspace_root(), selection.spec)

with tab_masks:
    used = del_settings(current_workspace(), data.name, forget, meta, state_digest(model))  # DEL's own settings
    names = list(LOCALIZERS)
    grans = ["localizer's default", *GRANULARITIES]
    c1, c2 = st.columns(2)  # wide enough for the localizers' full names
    c3, c4 = st.columns(2)
    first = c1.selectbox("Localizer A", names, index=names.index(used.localizer),
                         format_func=lambda n: LOCALIZERS[n].title)
    second = c2.selectbox("Localizer B", names, index=names.index("salun"), format_func=lambda n: LOCALIZERS[n].title)
    budget = c3.slider("Budget α (share of all parameters)", 0.01, 0.9, round(used.budget, 2), 0.01,
                       help="Both masks select exactly this share of all parameter entries, so they compare at an equal budget.")
    granularity = c4.selectbox("Granularity", grans, index=grans.index(used.granularity) if used.granularity in grans
                               else 0, help="channel: DEL's top-h channel aggregation; parameter: every entry on its own.")
    st.caption(f"Starts at {used.source}: {LOCALIZERS[used.localizer].title}, budget α = {used.budget:.2f}. "
               "Change the budget to compare the localizers elsewhere.")
    gran = None if granularity == "localizer's default" else granularity
    st.caption(f"A: {LOCALIZERS[first].help}  B: {LOCALIZERS[second].help}")
    with user_errors("Could not build the masks"):
        mask_a = get_mask(*keys, first, gran, budget)
        mask_b = get_mask(*keys, second, gran, budget)
    c = st.columns(3)
    c[0].metric("Entries selected (each mask)", f"{mask_a.n_selected:,} of {mask_a.n_total:,}")
    c[1].metric("Overlap of A and B (Jaccard)", format_number(mask_overlap(mask_a, mask_b)),
                help="Shared selected entries / entries selected by either. 1 = identical masks.")
    c[2].metric("Random masks would overlap about", format_number(budget / (2 - budget)),
                help="The expected Jaccard index of two independent random masks at this budget.")
    if used.masks is not None:
        selected, total = mask_counts(used.masks)
        d = st.columns(3)
        d[0].metric("Entries the DEL run reset (its stored mask)", f"{selected:,} of {total:,}",
                    help=f"Run {used.run_id}: the mask it stored, at budget {used.budget:.2f}.")
        d[1].metric("Overlap of that mask with A (Jaccard)", format_number(mask_jaccard(used.masks, mask_a.masks)),
                    help="1.00 when A is drawn at the run's settings: the heatmap A then shows the mask DEL used.")
    zrange = shared_score_range([mask_a, mask_b])  # one colour scale: A and B compare colour for colour
    st.plotly_chart(channel_heatmap(mask_a, f"A · {LOCALIZERS[first].title}: channel scores and selection",
                                    zrange=zrange), key="heat_a")
    st.caption("Each row is a weight tensor, each column an output channel. Colour: how much the channel "
               "matters for the forget set (log scale); white dots ringed in black: channels the mask selects.")
    st.plotly_chart(channel_heatmap(mask_b, f"B · {LOCALIZERS[second].title}: channel scores and selection",
                                    zrange=zrange), key="heat_b")
    st.plotly_chart(layer_share_bars({LOCALIZERS[first].title: mask_a, LOCALIZERS[second].title: mask_b},
                                     "Share of each parameter tensor selected"), key="share")
    st.caption("Where each localizer spends its budget: tall bars are layers it resets and retrains.")

with tab_pgd:
    c1, c2 = st.columns(2)
    eps_rel = c1.slider("ε (relative to the mean feature size)", 0.05, 1.0, 0.3, 0.05,
                        help="Each feature may move by at most ε times its mean magnitude over the forget set.")
    steps = c2.slider("PGD steps", 1, 100, 40)
    attack, before, after = cached_attack(*keys, eps_rel, steps)
    flipped = attack.flipped.numpy()
    c = st.columns(3)
    c[0].metric("Forget samples attacked", len(attack.y))
    c[1].metric("Pushed into another class", f"{pct(float(flipped.mean()))} ({int(flipped.sum())} of {len(flipped)})",
                help="Samples whose features, after the attack, the head assigns to a class other than their label.")
    c[2].metric("Largest move / ε", format_number(float(((attack.z_adv - attack.z).abs() / attack.eps.clamp_min(1e-12)).max())),
                help="At most 1: every attacked feature stays inside its ε-ball.")
    labels = [data.class_names[int(v)] for v in attack.y]
    pushed = [data.class_names[int(v)] for v in attack.adv_class]
    st.plotly_chart(attack_arrows(before, after, labels, pushed,
                                  "Forget features before and after Partial-PGD (PCA of the penultimate layer)"),
                    key="pgd_arrows")
    st.caption("Open circles: the forget samples' features. Each arrow ends where the attack moved them (diamonds): "
               "grey where the head still predicts the sample's own class, coloured where it now predicts another. "
               "Layer Attack Unlearning distils these targets into the head.")
    outcome = pd.DataFrame({"class": pushed, "outcome": np.where(flipped, "pushed into another class",
                                                                 "still its own class")})
    counts = outcome.value_counts().rename("samples").reset_index()
    fig = px.bar(counts, x="class", y="samples", color="outcome", barmode="stack",
                 color_discrete_map={"pushed into another class": "#d62728", "still its own class": "#9e9e9e"},
                 category_orders={"class": list(data.class_names)},
                 labels={"class": "class the head predicts after the attack", "samples": "forget samples"},
                 title=f"Class the head predicts after the attack: {int(flipped.sum())} of {len(flipped)} "
                       "pushed into another class")
    fig.update_layout(height=340, xaxis_type="category", legend_title="")
    fig.update_yaxes(tickformat="d")
    st.plotly_chart(fig, key="pgd_classes")
    st.caption("Red: forget samples the attack moved across the decision boundary (the summary's share); grey: "
               "samples still predicted as their own class at this ε. A larger ε or more steps push more across.")
    st.plotly_chart(dimension_bars(attack.perturbation.numpy(), attack.eps.numpy()), key="pgd_dims")
    st.caption("Bars: how far each feature dimension moved on average; marks: that dimension's ε.")

with tab_unsir:
    workspace = current_workspace()
    runs = [e for e in workspace.list("run", dataset=data.name) if e.info["method"] == "unsir"]
    if not runs:
        st.info("No UNSIR run yet for this dataset: run UNSIR on the Unlearn page (class forgetting).")
        st.page_link(page_file("unlearn"), label="Go to Unlearn", icon=":material/auto_fix_high:")
    else:
        entry = st.selectbox("UNSIR run", runs,
                             format_func=lambda e: run_label(e, known_names(workspace, data.name), data.class_names))
        artifacts = get_run_artifacts(state.workspace_root(), entry.id)
        noise = artifacts.get("noise")
        if noise is not None and noise.numel():
            classes = artifacts.get("noise_classes", [])
            st.markdown("**Learned error-maximising noise** (rescaled for display): inputs the original model "
                        "finds as unlike the forgotten class as possible. Impair trains on them labelled as that class.")
            for row, cls in enumerate(classes):
                images = [upscale(image_to_uint8(noise_to_image(n.numpy())), 4) for n in noise[row]]
                st.image(images, caption=[f"noise for {data.class_names[int(cls)]}"] * len(images), width=72)
        with user_errors("Could not evaluate the stages"):
            stages = cached_stages(*keys[:3], entry.id)
        frame = pd.DataFrame(stages).T.map(lambda v: round(100 * v, 1))
        fig = px.bar(frame.reset_index().melt(id_vars="index"), x="index", y="value", color="variable",
                     barmode="group", labels={"index": "stage", "value": "test accuracy (%)", "variable": "classes"},
                     title="Test accuracy after impair and after repair")
        fig.update_layout(height=360, yaxis_range=[0, 105])
        st.plotly_chart(fig, key="unsir_stages")
        st.caption("Impair wrecks the forgotten classes (and dents the others); repair restores the kept classes only.")
