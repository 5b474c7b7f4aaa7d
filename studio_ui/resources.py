"""Cached heavy objects: datasets, models, workspaces, and what is computed once per model and data.

Keyed by plain values, never tensors. Model outputs (a run's models' too), projections, concept
inference and a run's comparison view are also kept in the workspace
(`unlearn_core.workspace.feature_cache`), so a reload or a restarted server reads them instead of
recomputing."""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import streamlit as st
import torch

from unlearn_core.data import SplitDataset, load_dataset
from unlearn_core.device import pick_device
from unlearn_core.models import ModelMeta, SplitClassifier, load_checkpoint
from unlearn_core.models.defaults import check_compatible, load_default
from unlearn_core.progress import ProgressFn
from unlearn_core.workspace.feature_cache import ModelOutputs
from unlearn_core.workspace.store import Workspace

from .progress import estimated_progress
from .state import DataRef, ModelRef, data_ref, device_choice, model_ref, workspace_root

if TYPE_CHECKING:  # the inspections load with the Compare page, not with the app
    from unlearn_core.inspect.outputs import OutputsFn

T = TypeVar("T")


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


# -- computed once per model and data, kept in the workspace (unlearn_core.workspace.feature_cache) -------
# The computation runs outside any st.cache_* function, so its progress bar is drawn live and never
# replayed; the result is then kept in memory for every session of this server (cleared with the
# st.cache_resource caches) and on disk for the next server.
@st.cache_resource
def _memo() -> tuple[dict[tuple, Any], threading.Lock]:
    """Results computed in this server, by key, and the lock that guards the table."""
    return {}, threading.Lock()


def _memoized(key: tuple, compute: Callable[[ProgressFn], T], slot: Any, text: str,
              estimate: Callable[[], tuple[float, str] | None] = lambda: None) -> T:
    """`compute(progress)`'s result for `key`, computed once per server.

    While it computes, `slot` (an `st.empty()` placeholder the caller fills afterwards; a new one
    here when None) holds a progress bar that starts with `text`; `estimate` gives a line with the
    expected time when one was measured, and the bar then fills with the elapsed share of it.
    """
    table, lock = _memo()
    with lock:
        if key in table:
            return table[key]
    with estimated_progress(slot, text, estimate()) as progress:
        value = compute(progress)
    with lock:
        return table.setdefault(key, value)


def model_outputs(data: DataRef, ref: ModelRef, root: str, split: str, slot: Any = None) -> ModelOutputs:
    """Features and logits of the active model on the train or test split (CPU tensors), read from
    the workspace or computed once (with a progress bar in `slot`)."""
    from unlearn_core.workspace.feature_cache import model_outputs as stored_outputs

    def compute(progress: ProgressFn) -> ModelOutputs:
        model, _ = get_model(data, ref, root)
        return stored_outputs(get_workspace(root).root, model, get_dataset(data), split, progress=progress)

    return _memoized(("outputs", data, ref, root, split), compute, slot, f"Running the model on the {split} split...")


def get_logits(data: DataRef, ref: ModelRef, root: str, split: str) -> torch.Tensor:
    """Logits of the active model on the train or test split (CPU tensor), computed once."""
    return model_outputs(data, ref, root, split).logits


def _estimate_line(root: str, kind: str, n: int, what: str) -> tuple[float, str] | None:
    """Seconds a `kind` computation on `n` items should take and the line saying so, from this
    workspace's last timing of `kind`; None before the first one (no made-up figure)."""
    from unlearn_core.workspace.feature_cache import estimate_seconds, last_timing

    folder = get_workspace(root).root
    seconds, last = estimate_seconds(folder, kind, n), last_timing(folder, kind)
    if seconds is None or last is None:
        return None
    return seconds, (f"{what} of {n:,} points: about {seconds:.0f} s (the last one in this workspace took "
                     f"{last['seconds']:.1f} s for {last['n']:,.0f} points)")


def train_embedding(data: DataRef, ref: ModelRef, root: str, method: str, slot: Any = None) -> np.ndarray:
    """2-D coords of the train set in the active model's feature space, read from the workspace or
    fitted once per method (with a progress bar and, once one was timed here, an estimate)."""
    from unlearn_core.workspace.feature_cache import train_projection

    def compute(progress: ProgressFn) -> np.ndarray:
        model, _ = get_model(data, ref, root)
        return train_projection(get_workspace(root).root, model, get_dataset(data), method, progress=progress)

    from unlearn_core.embed import describe_projection
    from unlearn_core.workspace.feature_cache import last_timing

    n = len(get_dataset(data).train)
    first = "" if last_timing(get_workspace(root).root, f"projection_{method}") else (
        f" The first {method.upper()} in this workspace: no earlier one to estimate its time from; it is timed now "
        "for the next estimate.")
    return _memoized(("projection", data, ref, root, method), compute, slot,
                     f"Projecting {n:,} train images: {describe_projection(method, n)}{first}",
                     lambda: _estimate_line(root, f"projection_{method}", n, method.upper()))


def concept_inference(data: DataRef, ref: ModelRef, root: str, baseline: str, slot: Any = None):
    """The active model's concept bank, bottleneck and IG map (`concepts.infer_concepts`), read from
    the workspace or computed once per baseline."""
    from unlearn_core.workspace.feature_cache import concept_inference as stored_inference

    def compute(progress: ProgressFn):
        model, _ = get_model(data, ref, root)
        return stored_inference(get_workspace(root).root, model, get_dataset(data), baseline=baseline,
                                progress=progress)

    return _memoized(("concepts", data, ref, root, baseline), compute, slot,
                     "Training concept probes, the bottleneck and its IG map...")


def bottleneck_summary(data: DataRef, ref: ModelRef, root: str, slot: Any = None) -> dict[str, float]:
    """Test accuracies of the active model, its concept bottleneck and the random-direction control
    (`concepts.bottleneck_report`), read from the workspace or computed once."""
    from unlearn_core.workspace.feature_cache import bottleneck_summary as stored_summary

    def compute(progress: ProgressFn) -> dict[str, float]:
        model, _ = get_model(data, ref, root)
        return stored_summary(get_workspace(root).root, model, get_dataset(data), progress=progress)

    return _memoized(("bottleneck", data, ref, root), compute, slot,
                     "Testing the bottleneck against a random-direction control...")


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
def get_run_outputs(data: DataRef, ref: ModelRef, root: str, run_id: str) -> OutputsFn:
    """Where every Compare view of a stored run reads its three models' outputs
    (`inspect.outputs.stored_outputs`): each model runs once on the run's forget set and the test
    split, kept in the workspace, instead of once per view."""
    from unlearn_core.forget import resolve
    from unlearn_core.inspect.outputs import stored_outputs

    dataset = get_dataset(data)
    original, _ = get_model(data, ref, root)
    unlearned, retrained = get_run_models(root, run_id)
    models = {"original": original, "unlearned": unlearned} | ({} if retrained is None else {"retrain": retrained})
    info = get_workspace(root).get(run_id).info
    return stored_outputs(get_workspace(root).root, models, dataset,
                          resolve(info["forget"], dataset, int(info["seed"])).forget_idx)


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


def comparison_view(data: DataRef, ref: ModelRef, root: str, run_id: str, projection: str, slot: Any = None):
    """A stored run's original / unlearned / retrained outputs on one shared projection
    (`inspect.overview.comparison_view`), read from the workspace or computed once per (dataset,
    original model, run, projection): everything it depends on is in its key, and runs never change."""
    from unlearn_core.inspect.overview import ComparisonView
    from unlearn_core.inspect.overview import comparison_view as compute_view
    from unlearn_core.workspace.feature_cache import cached_arrays, model_key, record_timing

    dataset = get_dataset(data)
    original, _ = get_model(data, ref, root)
    info = get_workspace(root).get(run_id).info
    folder = get_workspace(root).root

    def compute_arrays() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        unlearned, retrained = get_run_models(root, run_id)
        models = {"original": original, "unlearned": unlearned}
        if retrained is not None:
            models["retrain"] = retrained
        start = time.perf_counter()
        view = compute_view(dataset, info["forget"], info["seed"], models, projection=projection,
                            outputs=get_run_outputs(data, ref, root, run_id))
        record_timing(folder, f"comparison_{projection}", time.perf_counter() - start, len(view.labels))
        arrays = {"is_forget": view.is_forget, "labels": view.labels}
        arrays |= {f"coords.{m}": c for m, c in view.coords.items()}
        arrays |= {f"confidence.{m}.{part}": np.asarray(v)
                   for m, parts in view.confidence.items() for part, v in parts.items()}
        return arrays, {"models": list(view.coords)}

    def compute(progress: ProgressFn) -> ComparisonView:
        key = {**model_key(original, dataset), "run": run_id, "projection": projection}
        found = cached_arrays(folder, "comparison", key, compute_arrays)
        a, models = found.arrays, found.info["models"]
        return ComparisonView({m: a[f"coords.{m}"] for m in models}, a["is_forget"], a["labels"],
                              {m: {p: a[f"confidence.{m}.{p}"] for p in ("forget", "test")} for m in models})

    max_points = inspect.signature(compute_view).parameters["max_points"].default
    n = min(len(dataset.test) + int(info["n_forget"]), max_points)
    return _memoized(("comparison", data, ref, root, run_id, projection), compute, slot,
                     f"Projecting the three models' outputs ({projection.upper()})...",
                     lambda: _estimate_line(root, f"comparison_{projection}", n, f"{projection.upper()} of three models"))
