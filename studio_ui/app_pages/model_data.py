"""Model & data: choose the dataset and the model to unlearn from; see samples and accuracy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from studio_ui import state
from studio_ui.charts import per_class_bars
from studio_ui.forms import checked_number
from studio_ui.labels import format_value
from studio_ui.model_choice import model_label, oracle_warning, ordered_models
from studio_ui.navigation import page_file
from studio_ui.progress import streamlit_progress
from studio_ui.resources import current_device, current_workspace, get_dataset, get_model, model_outputs
from studio_ui.uploads import accept_checkpoint
from studio_ui.widgets import image_grid, pct, user_errors
from unlearn_core.data import get_dataset_info, list_datasets
from unlearn_core.models import list_models
from unlearn_core.models.defaults import DEFAULT_MODELS, default_checkpoint_path, make_default, train_model
from unlearn_core.recipes import recipe_for
from unlearn_core.train import accuracy, per_class_accuracy

st.title(":material/dataset: Model & data")
st.caption("Pick the data and the trained classifier that must forget something.")
st.page_link(page_file("tour"), label="New here? The guided tour runs the whole story in one click",
             icon=":material/school:")

# -- dataset ---------------------------------------------------------------------------------
infos = {d.name: d for d in list_datasets()}
ref = state.data_ref()


def switch_dataset() -> None:
    """Selectbox callback: a built-in dataset becomes active before the sidebar is drawn; a local
    one waits for its folder (below)."""
    chosen = st.session_state["dataset_choice"]
    if not infos[chosen].needs_root:
        state.set_data_ref(state.DataRef(chosen))
    st.session_state.pop("model_source", None)  # the new dataset's model choice starts from its active model
    st.session_state.pop("model_source_chosen", None)


if "dataset_choice" not in st.session_state:  # seeded from the active dataset when the page is (re)opened
    st.session_state["dataset_choice"] = ref.name
left, right = st.columns([1, 2])
name = left.selectbox(
    "Dataset", list(infos), key="dataset_choice", on_change=switch_dataset,
    format_func=lambda n: f"{n} (built in)" if not infos[n].needs_root else n,
    help="digits and shapes are built in; the others load from a folder you name (nothing is downloaded).",
)
right.caption(infos[name].description)
options: dict[str, object] = {}
if get_dataset_info(name).needs_root:
    root = right.text_input("Dataset folder", value=dict(ref.options).get("root", "") if ref.name == name else "")
    if not root:
        st.info("Name the folder that holds this dataset's files.")
        st.stop()
    options["root"] = root
state.set_data_ref(state.DataRef(name, tuple(sorted(options.items()))))
with user_errors("Could not load the dataset"):
    data = get_dataset(state.data_ref())
summary = data.describe()
cols = st.columns(4)
cols[0].metric("Train images", summary["n_train"])
cols[1].metric("Test images", summary["n_test"])
cols[2].metric("Classes", summary["num_classes"])
cols[3].metric("Image shape (C×H×W)", "×".join(map(str, summary["input_shape"])))

# -- model -----------------------------------------------------------------------------------
st.subheader("Model")
workspace = current_workspace()
stored = workspace.list("model", dataset=data.name)
sources = (["Shipped default"] if data.name in DEFAULT_MODELS else []) + ["Train a new one", "Checkpoint file"]
if stored:
    sources.insert(1, "From the workspace")
active = state.model_ref()
SOURCE_OF = {"default": "Shipped default", "workspace": "From the workspace", "file": "Checkpoint file"}
if st.session_state.get("model_source") not in sources:  # (re)opened: Streamlit dropped the radio's state
    # the person's last choice, kept beside it (no snap-back) while the active model is still the one it was made with
    kept, kept_with = st.session_state.get("model_source_chosen", (None, None))
    st.session_state["model_source"] = kept if kept in sources and kept_with == active else (
        SOURCE_OF[active.kind] if SOURCE_OF[active.kind] in sources else sources[0])


def pick_source() -> None:
    """Radio callback: the shipped default becomes active before the sidebar is drawn."""
    if st.session_state["model_source"] == "Shipped default":
        state.set_model_ref(state.ModelRef("default"))


source = st.radio("Model source", sources, horizontal=True, key="model_source", on_change=pick_source)
st.session_state["model_source_chosen"] = (source, state.model_ref())

if source == "Shipped default":
    state.set_model_ref(state.ModelRef("default"))
elif source == "From the workspace":
    stored = ordered_models(stored)  # trained models first: the default pick is never a retrained oracle
    ids = [e.id for e in stored]
    chosen = st.selectbox("Stored model", stored, format_func=model_label,
                          index=ids.index(active.value) if active.kind == "workspace" and active.value in ids else 0)
    state.set_model_ref(state.ModelRef("workspace", chosen.id))
    if warning := oracle_warning(chosen):
        st.warning(warning, icon=":material/warning:")
elif source == "Checkpoint file":
    upload = st.file_uploader(
        "Checkpoint (.safetensors with Unlearning Studio metadata)", type=["safetensors"],
        help="Files are read with safetensors: no code inside a file is ever run.",
    )
    if active.kind != "file":
        st.caption(f"The active model stays the {active.label()} until a checkpoint is accepted.")
    if upload is None and active.kind == "file":
        st.caption(f"Active: the checkpoint uploaded earlier ({Path(active.value).name}). Upload another to replace it.")
    elif upload is None:
        st.stop()
    else:
        with user_errors("Checkpoint not used"):  # checked before it becomes the active model
            target = accept_checkpoint(workspace.root, upload.name, upload.getvalue(), data)
        state.set_model_ref(state.ModelRef("file", str(target)))
else:
    with st.form("train"):
        c1, c2, c3 = st.columns(3)
        arch = c1.selectbox("Architecture", [m.name for m in list_models()],
                            help="Any torchvision classifier also works from the CLI as tv:<name>.")
        recipe = recipe_for(data.name, arch)
        problems: list[str] = []
        with c2:
            epochs = checked_number("Epochs", recipe.epochs, low=1, high=200, integer=True, problems=problems)
        with c3:
            seed = checked_number("Seed", 0, low=0, high=10_000, integer=True, problems=problems)
        go = st.form_submit_button("Train", icon=":material/model_training:", type="primary")
    if go and problems:
        st.error("Not started: " + " ".join(problems), icon=":material/error:")
    if go and not problems:
        bar = st.progress(0.0, text="Training...")
        with user_errors("Training failed"):
            model, meta, log = train_model(
                data, arch, recipe_for(data.name, arch, int(seed), epochs=int(epochs)),
                device=current_device(), progress=streamlit_progress(bar),
            )
            entry = workspace.save_model(model, meta, f"{arch} on {data.name} seed {seed}")
        bar.empty()
        st.success(f"Trained in {format_value('time_s', log.time_s)}: test accuracy {pct(meta.metrics['test_acc'])}; "
                   f"stored in the workspace as {entry.name}.")
        state.set_model_ref(state.ModelRef("workspace", entry.id))
    elif state.model_ref().kind != "workspace":
        st.stop()

ref_model = state.model_ref()
with user_errors("Could not load the model"):
    if ref_model.kind == "default":
        if not default_checkpoint_path(data.name).exists():
            bar = st.progress(0.0, text="The shipped model is missing: training it now...")
            make_default(data.name, device=current_device(), progress=streamlit_progress(bar))
            bar.empty()
    model, meta = get_model(state.data_ref(), ref_model, state.workspace_root())

content = st.empty()  # replaced at once: the previous dataset's figures never stay while these compute
test_logits = model_outputs(state.data_ref(), ref_model, state.workspace_root(), "test", content).logits
train_logits = model_outputs(state.data_ref(), ref_model, state.workspace_root(), "train", content).logits
with content.container():
    cols = st.columns(4)
    cols[0].metric("Architecture", meta.arch)
    cols[1].metric("Test accuracy", pct(accuracy(test_logits, data.test.y)))
    cols[2].metric("Train accuracy", pct(accuracy(train_logits, data.train.y)))
    cols[3].metric("Parameters", f"{sum(p.numel() for p in model.parameters()):,}")
    if meta.recipe:
        st.caption(
            f"Trained with {meta.recipe.get('optimizer', 'sgd').upper()} lr {meta.recipe.get('lr')}, "
            f"{meta.recipe.get('epochs')} epochs, batch {meta.recipe.get('batch_size')}, seed {meta.seed}. {meta.note}"
        )
    per_class = per_class_accuracy(test_logits, data.test.y, data.num_classes)
    st.plotly_chart(
        per_class_bars(data.class_names, {"model": per_class}, "Test accuracy per class"),
        key="per_class_chart",
    )
    st.caption("Each bar is the share of that class's test images the model labels correctly.")

    # -- samples -------------------------------------------------------------------------------
    st.subheader("Samples")
    rng = np.random.default_rng(0)
    shown = np.sort(rng.choice(len(data.train), size=min(30, len(data.train)), replace=False))
    image_grid(data, data.train, shown)
