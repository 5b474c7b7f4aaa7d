"""Concepts on your own data: a concept bank from folders of example images (one folder per
concept plus a negatives folder), built with `unlearn_core.concepts.bank_from_folders`, with the
same held-out probe accuracy and random-label control as the built-in shapes concepts."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
import torch

from unlearn_core.concepts import ConceptBank, bank_from_folders

from .charts import chance_line
from .resources import get_dataset, get_model
from .state import DataRef, ModelRef, data_ref, model_ref, workspace_root
from .widgets import user_errors

CPU = torch.device("cpu")
CONCEPT_PROBE = "concept probe"
CONTROL_PROBE = "random-label control (chance by design)"
PROBE_CAPTION = ("Each bar is a linear probe (concept vs no concept) tested on held-out images. A concept near the "
                 "grey random-label control is not encoded by the model's features.")


def probe_figure(bank: ConceptBank) -> go.Figure:
    """Held-out accuracy of each concept's probe beside the random-label control, with chance."""
    summary = pd.DataFrame(bank.summary())
    summary["probe"] = summary["control"].map({False: CONCEPT_PROBE, True: CONTROL_PROBE})
    fig = px.bar(summary, x="concept", y="heldout_accuracy", color="probe",
                 color_discrete_map={CONCEPT_PROBE: "#1f77b4", CONTROL_PROBE: "#aaaaaa"},
                 labels={"heldout_accuracy": "held-out probe accuracy", "probe": ""},
                 title="How linearly decodable each concept is from the penultimate features")
    chance_line(fig)
    fig.update_layout(height=380, yaxis_range=[0, 1.05], xaxis_tickangle=-45)
    return fig


@st.cache_resource(show_spinner="Training a probe per concept folder...")
def folder_bank(data: DataRef, model: ModelRef, root: str, folder: str, negatives: str) -> ConceptBank:
    """The concept bank of `folder` for the active model (cached per folder and model)."""
    m, _ = get_model(data, model, root)
    c, h, w = get_dataset(data).input_shape
    return bank_from_folders(m, folder, (h, w), channels=c, negatives=negatives, device=CPU)


def render_folder_bank() -> ConceptBank | None:
    """The folder form and, once built, the probe chart and table; returns the bank (or None)."""
    st.markdown("**Concepts from your own images.** Point to a folder holding one sub-folder of example images per "
                "concept (`stripes/`, `fur/`, ...) and a folder of images without any of them.")
    c1, c2 = st.columns([3, 1])
    folder = c1.text_input("Concept folder", key="concept_folder", placeholder="/data/concepts")
    negatives = c2.text_input("Negatives sub-folder", "negatives", key="concept_negatives")
    if not folder:
        return None
    if st.button("Build concept probes", key="concept_folder_build", icon=":material/psychology:"):
        st.session_state["concept_folder_built"] = (folder, negatives)
    if st.session_state.get("concept_folder_built") != (folder, negatives):
        return None
    with user_errors("Could not build the concept bank"):
        bank = folder_bank(data_ref(), model_ref(), workspace_root(), folder, negatives)
    st.plotly_chart(probe_figure(bank), key="folder_probes")
    st.caption(PROBE_CAPTION)
    st.dataframe(pd.DataFrame(bank.summary()), hide_index=True)
    return bank
