"""Compare's inspection sections for one stored run: layer-wise CKA, prediction matrices, a
steerable membership threshold, per-sample drill-down with the still-remembered list, the
linear probe and the relearn test. Every heavy result is cached per (dataset, model, workspace,
run id) with st.cache_resource and kept in the workspace (the models' outputs, the layers, matrices,
probe and drill-down maps), so a restarted server reads them; the figures come from
`inspect_charts`, the numbers from `unlearn_core.inspect`. While the CKA, the prediction matrices
or the probe compute, their spinner says what runs and about how long (`waiting_text`, from the
library's measured `estimate_*`), unless the workspace holds the result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch

from unlearn_core.inspect import (
    OFFERED,
    InspectionSample,
    LoadedRun,
    WorkEstimate,
    attack_at,
    called_member,
    cka_references,
    estimate_layer_similarity,
    estimate_prediction_view,
    estimate_probe_view,
    estimate_relearn_seconds,
    inspection_sample,
    layer_similarity,
    load_run,
    model_scores,
    nearest_to_threshold,
    prediction_view,
    probe_view,
    relearn_view,
    sample_view,
    still_remembered,
)
from unlearn_core.inspect.membership import LABELS as SCORE_LABELS
from unlearn_core.inspect.persample import (
    IG_STEPS,
    SampleView,
    attributions_from_arrays,
    attributions_to_arrays,
    sample_rows,
)
from unlearn_core.inspect.relearn import (
    DEFAULT_LR,
    DEFAULT_SHOTS,
    DEFAULT_STEPS,
    RELEARN_LEVEL,
    relearn_summary,
    split_shots,
)

from . import inspect_charts as charts
from .charts import image_to_uint8, upscale
from .labels import format_duration
from .resources import get_dataset, get_model, get_run_models, get_run_outputs, get_workspace
from .state import DataRef, ModelRef, data_ref, model_ref, workspace_root
from .widgets import pct, user_errors

CPU = torch.device("cpu")
Keys = tuple[DataRef, ModelRef, str]
SAY_ESTIMATE_FROM_S = 1.0  # shorter waits get a plain spinner: "about 0 s" tells nothing


# -- cached computations (keyed by plain values, never tensors) ---------------------------------
@st.cache_resource(show_spinner="Loading the run's three models...")
def loaded_run(keys: Keys, run_id: str) -> LoadedRun:
    """The run with its original (the active model), unlearned and retrained models (the latter two
    from Compare's cache, so a run's checkpoints are read once per session)."""
    data, model, root = keys
    original, _ = get_model(data, model, root)
    return load_run(get_workspace(root), run_id, original, get_dataset(data), models=get_run_models(root, run_id))


@st.cache_resource
def sample_of(keys: Keys, run_id: str) -> InspectionSample:
    run = loaded_run(keys, run_id)
    return inspection_sample(run.data, run.forget, seed=run.seed)


def _inspection_key(keys: Keys, run_id: str, what: str, **params: Any) -> dict[str, Any]:
    """The workspace cache key of one inspection result: original model, data, run and parameters."""
    from unlearn_core.workspace.feature_cache import model_key

    data, model, root = keys
    original, _ = get_model(data, model, root)
    return {**model_key(original, get_dataset(data)), "run": run_id, "what": what, **params}


def _stored(keys: Keys, run_id: str, what: str, compute: Callable[[], Any], **params: Any) -> Any:
    """`compute()`'s JSON result for this run, kept in the workspace (`feature_cache`) beside the
    model outputs: a run never changes, so a reload or a restarted server reads it back."""
    from unlearn_core.workspace.feature_cache import cached_arrays

    key = _inspection_key(keys, run_id, what, **params)
    return cached_arrays(get_workspace(keys[2]).root, "inspection", key,
                         lambda: ({}, {"value": compute()})).info["value"]


def _is_stored(keys: Keys, run_id: str, what: str, **params: Any) -> bool:
    """Whether the workspace holds this inspection result (`_stored` then reads it at once)."""
    from unlearn_core.workspace.feature_cache import read_cached

    return read_cached(get_workspace(keys[2]).root, "inspection", _inspection_key(keys, run_id, what, **params)) is not None


# -- what a wait will be: measured once per run and server, only for what the workspace lacks ------
@st.cache_resource(show_spinner=False)
def layers_estimate(keys: Keys, run_id: str) -> WorkEstimate | None:
    """What `layers_of(keys, run_id)` will take (`inspect.estimate_layer_similarity`); None when
    the workspace holds the layers (with or without the ceiling): they are read at once."""
    if _is_stored(keys, run_id, "layers", train=True) or _is_stored(keys, run_id, "layers", train=False):
        return None
    return _measured(lambda: estimate_layer_similarity(loaded_run(keys, run_id), sample_of(keys, run_id), device=CPU))


@st.cache_resource(show_spinner=False)
def matrices_estimate(keys: Keys, run_id: str) -> WorkEstimate | None:
    """What `matrices_of` will take (`inspect.estimate_prediction_view`: the model outputs the
    workspace lacks); None when the matrices are stored."""
    if _is_stored(keys, run_id, "matrices"):
        return None
    return _measured(lambda: estimate_prediction_view(loaded_run(keys, run_id), get_workspace(keys[2]).root))


@st.cache_resource(show_spinner=False)
def probe_estimate(keys: Keys, run_id: str) -> WorkEstimate | None:
    """What `probe_of` will take (`inspect.estimate_probe_view`); None when the probe is stored."""
    if _is_stored(keys, run_id, "probe"):
        return None
    return _measured(lambda: estimate_probe_view(loaded_run(keys, run_id), sample_of(keys, run_id),
                                                 get_workspace(keys[2]).root))


def _measured(estimate: Callable[[], WorkEstimate]) -> WorkEstimate | None:
    """`estimate()`, or None when it cannot be measured: the work itself then runs (and reports
    its own error, if any) under a plain spinner."""
    try:
        return estimate()
    except Exception:  # noqa: BLE001 (a failed estimate must not stop the inspection it announces)
        return None


def waiting_text(doing: str, estimate: WorkEstimate | None, *, images: str = "images", of: bool = True) -> str:
    """The spinner's line: `doing`, and when the wait was measured at `SAY_ESTIMATE_FROM_S` or
    more, what it runs and about how long: "Comparing the layers (CKA) of 5 models on 2 × 300
    images: about 4 s..." (`of`), or "Predicting the forget samples (3 models on 2,200 images
    not yet in the workspace): about 2 s...". A plain "`doing`..." otherwise."""
    if estimate is None or estimate.seconds < SAY_ESTIMATE_FROM_S:
        return f"{doing}..."
    sizes = estimate.sizes
    counted = f"{len(sizes)} × {sizes[0]:,}" if len(sizes) > 1 and len(set(sizes)) == 1 else \
        " + ".join(f"{n:,}" for n in sizes)
    work = f"{estimate.n_models} model{'s' if estimate.n_models != 1 else ''} on {counted} {images}"
    return f"{doing} {'of ' + work if of else '(' + work + ')'}: about {format_duration(estimate.seconds)}..."


def _spinner(doing: str, estimate: WorkEstimate | None, **kwargs: Any) -> Any:
    """`st.spinner` with `waiting_text(doing, estimate, **kwargs)`; with an estimate, the elapsed
    time is shown beside it."""
    said = estimate is not None and estimate.seconds >= SAY_ESTIMATE_FROM_S
    return st.spinner(waiting_text(doing, estimate, **kwargs), show_time=said)


@st.cache_resource(show_spinner=False)
def layers_of(keys: Keys, run_id: str, train_ceiling: bool = False) -> list[dict[str, Any]]:
    """The CKA rows with the floor (always) and the ceiling (its second retrained model from the
    workspace cache, or trained now when `train_ceiling`); once computed with the ceiling, that
    stored version is the one shown."""
    from unlearn_core.workspace.feature_cache import read_cached

    def compute(train: bool) -> list[dict[str, Any]]:
        run = loaded_run(keys, run_id)
        refs = cka_references(run, device=CPU, train=train)
        return layer_similarity(run.models, run.data, sample_of(keys, run_id), device=CPU, references=refs).rows()

    if not train_ceiling:
        with_ceiling = read_cached(get_workspace(keys[2]).root, "inspection",
                                   _inspection_key(keys, run_id, "layers", train=True))
        if with_ceiling is not None:
            return with_ceiling.info["value"]
    return _stored(keys, run_id, "layers", lambda: compute(train_ceiling), train=train_ceiling)


@st.cache_resource(show_spinner=False)
def matrices_of(keys: Keys, run_id: str) -> dict[str, dict[str, Any] | None]:
    def compute() -> dict[str, dict[str, Any] | None]:
        run = loaded_run(keys, run_id)
        views = prediction_view(run.models, run.data, run.forget, device=CPU, outputs=get_run_outputs(*keys, run_id))
        return {side: None if v is None else v.to_dict() for side, v in views.items()}

    return _stored(keys, run_id, "matrices", compute)


@st.cache_resource(show_spinner="Scoring every sample...")
def scores_of(keys: Keys, run_id: str):
    """Every model's per-sample scores, from the run's model outputs kept in the workspace
    (`resources.get_run_outputs`): no forward pass once they are stored."""
    run = loaded_run(keys, run_id)
    return model_scores(run.models, run.data, sample_of(keys, run_id), device=CPU, outputs=get_run_outputs(*keys, run_id))


@st.cache_resource(show_spinner=False)
def probe_of(keys: Keys, run_id: str) -> dict[str, Any]:
    def compute() -> dict[str, Any]:
        run = loaded_run(keys, run_id)
        return probe_view(run.models, run.data, run.forget, sample_of(keys, run_id), device=CPU,
                          outputs=get_run_outputs(*keys, run_id))

    return _stored(keys, run_id, "probe", compute)


@st.cache_resource(show_spinner="Relearning...")
def relearn_of(keys: Keys, run_id: str, steps: int, shots: int, lr: float) -> dict[str, Any]:
    run = loaded_run(keys, run_id)
    return relearn_view(run.models, run.data, sample_of(keys, run_id), steps=steps, shots=shots, lr=lr,
                        device=CPU).to_dict()


@st.cache_resource(show_spinner="Integrated Gradients of the sample...")
def drilldown_of(keys: Keys, run_id: str, position: int) -> SampleView:
    """The drill-down of the forget sample at `position`; its IG maps are kept in the workspace
    (`feature_cache`) beside the other inspections, the rows come from the scores."""
    from unlearn_core.workspace.feature_cache import cached_arrays

    run = loaded_run(keys, run_id)
    sample = sample_of(keys, run_id)
    scores = scores_of(keys, run_id)
    index = int(sample.forget_idx[position])
    x, y = run.data.train.x[index], run.data.train.y[index]

    def compute() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        view = sample_view(run.models, scores, sample.forget_idx, x, y, position, device=CPU)
        return attributions_to_arrays(view.attributions), {}

    key = _inspection_key(keys, run_id, "drilldown", position=position, ig_steps=IG_STEPS)
    found = cached_arrays(get_workspace(keys[2]).root, "inspection", key, compute)
    return SampleView(index, int(y), sample_rows(scores, position), attributions_from_arrays(found.arrays))


@st.cache_resource
def relearn_estimate(keys: Keys, run_id: str, steps: int, shots: int) -> float:
    run = loaded_run(keys, run_id)
    sample = sample_of(keys, run_id)
    train_idx, eval_idx = split_shots(sample.forget_idx, shots, sample.seed)
    return estimate_relearn_seconds(run.models["original"], run.data.train.subset(train_idx).x,
                                    run.data.train.subset(eval_idx).x, steps=steps, n_models=len(run.models),
                                    device=CPU)


# -- sections ------------------------------------------------------------------------------------
def render_inspection(run_id: str) -> dict[str, Any]:
    """Draw every inspection section of run `run_id` (the active model must be the run's original)
    and return what the HTML report adds: layers, prediction matrices, probe and relearn (when run)."""
    keys: Keys = (data_ref(), model_ref(), workspace_root())
    with user_errors("Could not inspect this run"):
        run = loaded_run(keys, run_id)
        with _spinner("Predicting the forget samples", matrices_estimate(keys, run_id),
                      images="images not yet in the workspace", of=False):
            matrices = matrices_of(keys, run_id)
        with _spinner("Training the linear probes", probe_estimate(keys, run_id),
                      images="images not yet in the workspace", of=False):
            probe = probe_of(keys, run_id)
    classes = list(run.data.class_names)
    has_retrain = "retrain" in run.models
    if not has_retrain:
        st.warning("The retrained model of this run is no longer in the workspace: figures against it are missing.")

    st.subheader("Layer by layer: is it gone from the representation?")
    layers = _cka_section(keys, run_id, run, has_retrain)

    st.subheader("Where the forgotten samples go")
    sides = [("forget", "forget samples"), ("test", "test images of the forgotten slice")]
    tabs = st.tabs([label for side, label in sides if matrices.get(side) is not None])
    for tab, (side, label) in zip(tabs, [s for s in sides if matrices.get(s[0]) is not None], strict=True):
        with tab:
            st.plotly_chart(charts.prediction_matrices_figure(matrices[side], classes, label), key=f"insp_pm_{side}")
    st.caption(charts.MATRIX_CAPTION)

    _membership_section(keys, run_id, run)
    _sample_section(keys, run_id, run, has_retrain)

    st.subheader("Erasure beyond the outputs")
    c1, c2 = st.columns(2)
    with c1:
        st.plotly_chart(charts.probe_figure(probe), key="insp_probe")
        st.caption(charts.probe_caption(probe))
    with c2:
        relearn = _relearn_section(keys, run_id)
    return {"layers": layers, "prediction_matrix": matrices, "classes": classes, "probe": probe, "relearn": relearn}


def _cka_section(keys: Keys, run_id: str, run: LoadedRun, has_retrain: bool) -> list[dict[str, Any]]:
    """The CKA chart with its references; the ceiling's second retrained model is trained only on
    request (its cost stated) unless the workspace has it."""
    requested: set = st.session_state.setdefault("insp_ceiling_requested", set())
    train = run_id in requested
    layers: list[dict[str, Any]] | None = None
    if train:
        try:
            with st.spinner(f"Training the second retrained model (seed {run.seed + 1}) for the ceiling..."):
                layers = layers_of(keys, run_id, True)
        except Exception as err:  # noqa: BLE001 (any failure of that training: said, and the page goes on)
            st.error(f"Could not train the ceiling's second retrained model: {err}", icon=":material/error:")
            requested.discard(run_id)
            train = False
    if layers is None:
        with user_errors("Could not compare the layers"), \
                _spinner("Comparing the layers (CKA)", layers_estimate(keys, run_id)):
            layers = layers_of(keys, run_id, False)
    estimator = st.radio("CKA estimator", ["debiased", "biased"], horizontal=True, key="insp_cka_estimator",
                         help="debiased: unbiased HSIC (Song et al. 2012), about 0 for unrelated representations "
                              "however wide the layer; biased: the classic estimate (Kornblith et al. 2019), high "
                              "even for unrelated wide layers.")
    st.plotly_chart(charts.cka_figure(layers, estimator), key="insp_cka")
    st.caption(charts.cka_caption(estimator))
    if has_retrain and not train and layers and layers[0].get("cka_ceiling") is None:
        seconds = run.entry.info.get("retrain_time_s")
        cost = f"about {max(1, round(float(seconds)))} s, as long as this run's retraining" if seconds else \
            "as long as this run's retraining"
        st.caption(f"The ceiling needs a second retrained model (training seed {run.seed + 1}, same forget set): "
                   f"{cost}; it is kept in the workspace and reused.")
        if st.button("Compute the ceiling", key="insp_ceiling_run", icon=":material/vertical_align_top:"):
            requested.add(run_id)
            st.rerun()
    return layers


def _membership_section(keys: Keys, run_id: str, run: LoadedRun) -> None:
    st.subheader("Membership attack at a threshold you choose")
    scores = scores_of(keys, run_id)
    sample = sample_of(keys, run_id)
    score = st.radio("Attack score", list(OFFERED), horizontal=True, key="insp_score",
                     format_func=lambda s: SCORE_LABELS[s],
                     help="scaled confidence: member when log(p / (1 - p)) of the true label is at least the "
                          "threshold (LiRA's statistic; the same ranking as the confidence or the loss); "
                          "entropy: member when the prediction's entropy is at most the threshold (label-free).")
    if score == "scaled_confidence":
        values = np.concatenate([v for s in scores.values() for v in (s.forget(score), s.nonmember(score))])
        values = values[np.isfinite(values)]
        low = float(np.floor(max(-50.0, values.min()))) if len(values) else -10.0
        high = float(np.ceil(min(50.0, values.max()))) if len(values) else 10.0
        low, high = min(low, -1.0), max(high, 1.0)
        threshold = st.slider("Threshold", low, high, 0.0, 0.1, key="insp_thr_scaled",
                              help="0 is p = 1/2; 2.2 is p = 0.9; 4.6 is p = 0.99.")
    else:
        top = round(float(np.log(len(run.data.class_names))), 2)  # the entropy of a uniform prediction
        threshold = st.slider("Threshold", 0.0, top, round(top / 4, 2), 0.01, key="insp_thr_entropy")
    rows = [{"model": who, **{k: pct(v) for k, v in attack_at(s, threshold, score).items()}}
            for who, s in scores.items()]
    st.dataframe(pd.DataFrame(rows)[["model", "accuracy", "tpr", "fpr"]].rename(
        columns={"accuracy": "attack accuracy", "tpr": "TPR (forget called member)", "fpr": "FPR (test called member)"}),
        hide_index=True)
    nonmember = "test images of the forgotten slice" if sample.nonmember_is_slice else "test images"
    st.caption(charts.MEMBERSHIP_CAPTION + f" Non-members here: {len(sample.nonmember_idx)} {nonmember}; "
               f"members: {len(sample.forget_idx)} forget samples.")
    st.plotly_chart(charts.membership_figure({w: s.forget(score) for w, s in scores.items()},
                                             {w: s.nonmember(score) for w, s in scores.items() if w != "original"},
                                             score, threshold), key="insp_mia")
    near = []
    for who, s in scores.items():
        for side, values, idx in (("forget", s.forget(score), sample.forget_idx),
                                  ("test", s.nonmember(score), sample.nonmember_idx)):
            for pos in nearest_to_threshold(values, threshold, 3):
                near.append({"model": who, "side": side, "sample": f"#{int(idx[pos])}", "score": round(float(values[pos]), 4),
                             "called member": bool(called_member(values[pos : pos + 1], threshold, score)[0])})
    with st.expander("Samples at the threshold (the ones a small move of the slider flips)"):
        st.dataframe(pd.DataFrame(near), hide_index=True)


def _pick_from_scatter() -> None:
    event = st.session_state.get("insp_scatter")
    points = (event or {}).get("selection", {}).get("points", [])
    if points and "customdata" in points[0]:
        st.session_state["insp_pos"] = int(points[0]["customdata"])


def _pick_from_table() -> None:
    event = st.session_state.get("insp_remembered")
    rows = (event or {}).get("selection", {}).get("rows", [])
    order = st.session_state.get("insp_remembered_positions", [])
    if rows and rows[0] < len(order):
        st.session_state["insp_pos"] = int(order[rows[0]])


def _sample_section(keys: Keys, run_id: str, run: LoadedRun, has_retrain: bool) -> None:
    st.subheader("Sample by sample")
    scores = scores_of(keys, run_id)
    sample = sample_of(keys, run_id)
    if has_retrain:
        st.plotly_chart(charts.remembered_scatter(scores["retrain"].forget_confidence,
                                                  scores["unlearned"].forget_confidence, sample.forget_idx),
                        key="insp_scatter", on_select=_pick_from_scatter, selection_mode="points")
        st.caption(charts.SCATTER_CAPTION)
        ranked = still_remembered(scores, sample.forget_idx, k=15)
        st.markdown("**Still remembered**: forget samples the unlearned model is most confident on, beyond the "
                    "retrained model (click a row to inspect it).")
        st.session_state["insp_remembered_positions"] = [r["position"] for r in ranked]
        if ranked:
            table = pd.DataFrame([{"sample": f"#{r['train_index']}", "unlearned": pct(r["unlearned_confidence"]),
                                   "retrained": pct(r["retrain_confidence"]), "excess": f"{r['excess']:+.3f}"}
                                  for r in ranked])
            st.dataframe(table, hide_index=True, key="insp_remembered", on_select=_pick_from_table,
                         selection_mode="single-row")
        else:
            st.success("No forget sample gets more confidence from the unlearned model than from the retrained one.")
    positions = list(range(len(sample.forget_idx)))
    position = st.selectbox("Forget sample", positions, key="insp_pos",
                            format_func=lambda p: f"#{int(sample.forget_idx[p])} "
                                                  f"({run.data.class_names[int(run.data.train.y[int(sample.forget_idx[p])])]})")
    view = drilldown_of(keys, run_id, position)
    c0, c1 = st.columns([1, 3])
    image = run.data.train.x[view.train_index].numpy()
    c0.image(upscale(image_to_uint8(image), max(1, 96 // image.shape[-1])),
             caption=f"train #{view.train_index}, label {run.data.class_names[view.label]}")
    rows = pd.DataFrame([{"model": who, "prediction": run.data.class_names[r["prediction"]],
                          "confidence in the label": pct(r["confidence"]), "loss": round(r["loss"], 4),
                          "scaled confidence": round(r.get("scaled_confidence", float("nan")), 3),
                          "entropy": round(r.get("entropy", float("nan")), 3),
                          "membership score": round(r["membership_score"], 3)} for who, r in view.rows.items()])
    c1.dataframe(rows, hide_index=True)
    c1.caption("Membership score: share of unseen test images with a higher loss under that model (0.5 = looks "
               "unseen, near 1 = fitted better than almost any unseen image, a likely member).")
    cols = st.columns(len(view.attributions))
    for col, (who, pa) in zip(cols, view.attributions.items(), strict=True):
        heat = pa.heatmaps[0]
        lim = float(np.abs(heat).max()) or 1.0
        fig = go.Figure(go.Heatmap(z=heat, colorscale="RdBu_r", zmin=-lim, zmax=lim, showscale=False))
        fig.update_layout(title=f"{who}: IG of the label", height=230, margin=dict(l=0, r=0, t=30, b=0),
                          yaxis=dict(autorange="reversed", visible=False), xaxis=dict(visible=False))
        col.plotly_chart(fig, key=f"insp_ig_{who}")
    st.caption("Integrated Gradients (captum, black baseline) of the true label's logit for each model: red pixels "
               "support the label, blue ones oppose it.")


def _relearn_section(keys: Keys, run_id: str) -> dict[str, Any] | None:
    a, b = st.columns(2)
    steps = a.number_input("Finetuning steps", 1, 50, DEFAULT_STEPS, key="insp_relearn_steps")
    shots = b.number_input("Forget samples to finetune on", 1, 64, DEFAULT_SHOTS, key="insp_relearn_shots")
    request = (run_id, int(steps), int(shots), DEFAULT_LR)
    done: set = st.session_state.setdefault("insp_relearn_done", set())
    with user_errors("Cannot run the relearn test"):
        seconds = relearn_estimate(keys, run_id, int(steps), int(shots))
    if request not in done:
        st.caption(f"Finetunes a copy of each of the three models for {steps} steps on {shots} forget samples "
                   f"(seeded; your models are not changed). Estimated {max(1, round(seconds))} s on the CPU.")
        if not st.button("Run the relearn test", key="insp_relearn_run", icon=":material/replay:"):
            return None
        done.add(request)
    with user_errors("The relearn test failed"):
        relearn = relearn_of(keys, run_id, int(steps), int(shots), DEFAULT_LR)
    st.plotly_chart(charts.relearn_figure(relearn), key="insp_relearn")
    summary = relearn_summary(relearn)  # the HTML report's figures, from the same function
    st.dataframe(pd.DataFrame([{"model": who, "steps to relearn": row["steps_text"],
                                "forget accuracy after relearning": row["final_text"]}
                               for who, row in summary.items()]), hide_index=True)
    st.caption(charts.RELEARN_CAPTION + f" Steps to relearn: the first step at which the forget accuracy reaches "
               f"{100 * RELEARN_LEVEL:.0f}%.")
    return relearn
