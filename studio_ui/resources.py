"""Cached heavy objects: datasets, models, workspaces. Keyed by plain values, never tensors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st
import torch

from unlearn_core.data import SplitDataset, load_dataset
from unlearn_core.device import pick_device
from unlearn_core.models import ModelMeta, SplitClassifier, load_checkpoint
from unlearn_core.models.defaults import check_compatible, load_default
from unlearn_core.workspace.store import Workspace

from .state import DataRef, ModelRef, data_ref, device_choice, model_ref, workspace_root


@st.cache_resource(show_spinner="Loading dataset...")
def get_dataset(ref: DataRef) -> SplitDataset:
    return load_dataset(ref.name, **dict(ref.options))


@st.cache_resource
def get_workspace(root: str) -> Workspace:
    """The workspace at `root`, opened once per server; runs whose worker died are marked failed.

    Opening never deletes anything (a workspace someone sent you is read, not cleaned): removing a
    crash's leftovers is `python -m unlearn_core runs --clean`, which says what it removes."""
    from unlearn_core.runs.records import settle

    workspace = Workspace(root)
    settle(workspace)
    return workspace


def current_workspace() -> Workspace:
    return get_workspace(workspace_root())


def current_device() -> torch.device:
    try:
        return pick_device(device_choice())
    except ValueError:
        return pick_device(None)


@st.cache_resource(show_spinner="Loading model...")
def get_model(data: DataRef, ref: ModelRef, root: str) -> tuple[SplitClassifier, ModelMeta]:
    """The model `ref` points to, checked against the dataset. Shared: never modify it in place."""
    dataset = get_dataset(data)
    if ref.kind == "default":
        model, meta = load_default(dataset.name, device=torch.device("cpu"))
    elif ref.kind == "workspace":
        model, meta = get_workspace(root).load_model(ref.value)
    else:
        model, meta = load_checkpoint(Path(ref.value))
    check_compatible(meta, dataset)
    model.eval()
    return model, meta


def current_dataset() -> SplitDataset:
    return get_dataset(data_ref())


def current_model() -> tuple[SplitClassifier, ModelMeta]:
    return get_model(data_ref(), model_ref(), workspace_root())


@st.cache_resource(show_spinner="Running the model on the data...")
def get_logits(data: DataRef, ref: ModelRef, root: str, split: str) -> torch.Tensor:
    """Logits of the active model on the train or test split (CPU tensor), computed once."""
    from unlearn_core.train import predict_logits

    dataset = get_dataset(data)
    model, _ = get_model(data, ref, root)
    x = dataset.train.x if split == "train" else dataset.test.x
    return predict_logits(model, x, device=torch.device("cpu"))


@st.cache_resource(show_spinner="Projecting the train set...")
def get_train_embedding(data: DataRef, ref: ModelRef, root: str, method: str):
    """2-D coords of the train set in the active model's feature space (cached per method)."""
    from unlearn_core.embed import fit_projection
    from unlearn_core.train import extract_features

    dataset = get_dataset(data)
    model, _ = get_model(data, ref, root)
    features = extract_features(model, dataset.train.x, device=torch.device("cpu"))
    _, coords = fit_projection(features, method)
    return coords


@st.cache_resource(show_spinner="Scoring parameters...")
def get_mask(data: DataRef, ref: ModelRef, root: str, spec: str, localizer: str, granularity: str | None,
             budget: float):
    """The parameter mask a localizer selects for forget set `spec` at `budget` (cached)."""
    from unlearn_core.forget import UnlearnData, resolve
    from unlearn_core.localize import localize

    model, _ = get_model(data, ref, root)
    dataset = get_dataset(data)
    return localize(model, UnlearnData(dataset, resolve(spec, dataset)), localizer=localizer,
                    granularity=granularity, budget=budget, device=torch.device("cpu"))


@st.cache_resource(show_spinner="Loading the run's models...")
def get_run_models(root: str, run_id: str) -> tuple[SplitClassifier, SplitClassifier | None]:
    """A stored run's unlearned model and its retrained oracle (None if no longer stored), loaded once."""
    from unlearn_core.runs.one_run import run_models

    workspace = get_workspace(root)
    return run_models(workspace, workspace.get(run_id))


@st.cache_resource
def get_run_artifacts(root: str, run_id: str) -> dict[str, Any]:
    """A stored run's artifacts (flat '/'-joined keys, `store.load_run_artifacts`), read once: runs never change."""
    from unlearn_core.workspace.store import load_run_artifacts

    return load_run_artifacts(get_workspace(root).get(run_id))


@st.cache_resource
def get_study_scores(root: str, study_id: str) -> dict[str, Any]:
    """A stored seed study's per-example scores (`workspace.studies.load_scores`), read once: studies never change."""
    from unlearn_core.workspace.studies import load_scores

    return load_scores(get_workspace(root).get(study_id))


@st.cache_resource(show_spinner="Projecting the three models' outputs...")
def get_comparison_view(data: DataRef, ref: ModelRef, root: str, run_id: str, projection: str):
    """A stored run's original / unlearned / retrained outputs on one shared projection, computed once
    per (dataset, original model, workspace, run, projection): everything it depends on is in its key."""
    from unlearn_core.inspect.overview import comparison_view

    dataset = get_dataset(data)
    original, _ = get_model(data, ref, root)
    unlearned, retrained = get_run_models(root, run_id)
    models = {"original": original, "unlearned": unlearned}
    if retrained is not None:
        models["retrain"] = retrained
    info = get_workspace(root).get(run_id).info
    return comparison_view(dataset, info["forget"], info["seed"], models, projection=projection)
