"""Compare's A vs B view: two runs on the same forget set, side by side, both against the retrained
model (`unlearn_core.inspect.versus`). The comparison is computed once per (dataset, model,
workspace, A, B, projection) with st.cache_resource; the figures come from `versus_charts`; the
sample chosen in the projection, the picker or the disagreement list is one session key
(``vs_pos``), so it is highlighted in both panels."""

from __future__ import annotations

from typing import Any

import streamlit as st
import torch

from unlearn_core.inspect.versus import STUDY_RULE, study_of, study_versus, versus_inspection

from . import versus_charts as charts
from .charts import image_to_uint8, upscale
from .inspect_charts import cka_caption, cka_figure
from .inspect_view import Keys, loaded_run
from .labels import format_setting
from .resources import get_workspace
from .state import data_ref, model_ref, workspace_root
from .widgets import user_errors

CPU = torch.device("cpu")
N_IMAGES = 8
POS = "vs_pos"


@st.cache_resource(show_spinner="Comparing run A with run B on the forget samples...")
def versus_of(keys: Keys, run_a: str, run_b: str, projection: str) -> dict[str, Any]:
    """`versus_inspection` of the two stored runs (both must start from the active model)."""
    return versus_inspection(loaded_run(keys, run_a), loaded_run(keys, run_b), device=CPU, projection=projection)


def settings_text(summary: dict[str, Any]) -> str:
    """A run's method settings in a few words, e.g. "epochs 1, lr 0.1, batch size 64" ("default settings")."""
    config = summary.get("config") or {}
    return ", ".join(f"{k.replace('_', ' ')} {format_setting(v)}" for k, v in config.items()) or "default settings"


def studies_of(root: str, run_a: str, run_b: str) -> dict[str, Any]:
    """The stored seed studies of A and of B (their results, None where missing) and, when both
    exist, their comparison (`study_versus`) under ``versus``."""
    workspace = get_workspace(root)
    found = {side: study_of(workspace, workspace.get(run).info) for side, run in (("a", run_a), ("b", run_b))}
    infos = {side: None if e is None else e.info for side, e in found.items()}
    return {**infos, "versus": study_versus(infos["a"], infos["b"])}


def _pick_from_projection() -> None:
    points = (st.session_state.get("vs_projection") or {}).get("selection", {}).get("points", [])
    custom = [p["customdata"] for p in points if "customdata" in p]
    if custom:
        st.session_state[POS] = int(custom[0] if not isinstance(custom[0], list) else custom[0][0])


def _pick_from_list() -> None:
    rows = (st.session_state.get("vs_disagree") or {}).get("selection", {}).get("rows", [])
    order = st.session_state.get("vs_disagree_positions", [])
    if rows and rows[0] < len(order):
        st.session_state[POS] = int(order[rows[0]])


def render_versus(run_a: str, run_b: str, labels: dict[str, str]) -> dict[str, Any]:
    """Draw A against B (the active model must be both runs' original); `labels` names the two
    sides ({"a": "A: ...", "b": "B: ..."}). Returns what the HTML report needs: the comparison,
    the studies and the CKA figures."""
    keys: Keys = (data_ref(), model_ref(), workspace_root())
    projection = st.session_state.get("vs_proj", "pca")
    with user_errors("Could not compare the two runs"):
        versus = versus_of(keys, run_a, run_b, projection)
        data = loaded_run(keys, run_a).data
    classes = list(data.class_names)
    studies = studies_of(keys[2], run_a, run_b)

    st.subheader("Metrics: A, B and the retrained model")
    st.table(charts.metric_table(versus, labels).set_index("metric"))
    st.caption(charts.TABLE_CAPTION)
    if versus["prediction_matrix"].get("retrain") is None:
        st.warning("The retrained model of these runs is no longer in the workspace: figures against it are missing.")

    _study_section(studies, labels)

    st.plotly_chart(charts.per_class_figure(versus, labels), key="vs_per_class")
    st.caption(charts.PER_CLASS_CAPTION)

    st.subheader("Where the forgotten samples go")
    st.plotly_chart(charts.matrices_figure(versus, labels), key="vs_matrices")
    agree = versus["agreement"]
    st.caption(charts.MATRIX_CAPTION + ("" if agree is None else
                                        f" A and B predict the same class on {100 * agree:.1f}% of the forget samples."))

    st.subheader("One shared projection, the same sample in both")
    proj = versus["projection"]
    n = proj["n_forget"]
    c1, c2 = st.columns([1, 3])
    c1.radio("Projection", ["pca", "umap"], horizontal=True, key="vs_proj")
    if st.session_state.get(POS) not in range(n):
        st.session_state[POS] = versus["disagreement"][0]["position"] if versus["disagreement"] else 0
    position = c2.selectbox(
        "Forget sample (highlighted in both panels)", list(range(n)), key=POS,
        format_func=lambda p: f"#{proj['train_index'][p]} (label {classes[proj['labels'][p]]})")
    st.plotly_chart(charts.projection_figure(versus, labels, position, classes), key="vs_projection",
                    on_select=_pick_from_projection, selection_mode="points")
    st.caption(charts.PROJECTION_CAPTION)

    st.subheader("Layer by layer")
    cka = {}
    estimator = st.radio("CKA estimator", ["debiased", "biased"], horizontal=True, key="vs_cka_estimator")
    cols = st.columns(2)
    for col, side in zip(cols, ("a", "b"), strict=True):
        if versus["layers"] is not None:
            cka[side] = charts.cka_titled(cka_figure(versus["layers"][side], estimator), labels[side])
            col.plotly_chart(cka[side], key=f"vs_cka_{side}")
    st.caption(cka_caption(estimator) + " Left A, right B; the references (ceiling, floor) are on each run's own view.")

    st.subheader("Membership: A and B against the retrained model")
    st.dataframe(charts.membership_table(versus, labels), hide_index=True)
    st.plotly_chart(charts.membership_figure(versus, labels), key="vs_membership")
    st.caption(charts.MEMBERSHIP_CAPTION)

    st.subheader("Forget samples on which A and B disagree most")
    _disagreement_section(versus, labels, data, classes)
    return {"versus": versus, "studies": studies, "cka": cka}


def _study_section(studies: dict[str, Any], labels: dict[str, str]) -> None:
    st.subheader("Against retraining's own spread (seed studies)")
    missing = [labels[side] for side in ("a", "b") if studies[side] is None]
    if missing:
        st.caption(f"No seed study of {' and '.join(missing)} yet: run one from that run's own view (pick it alone) "
                   "to tell whether A and B differ beyond seed noise.")
        return
    both = studies["versus"]
    text = charts.study_sentence(both, labels)
    (st.warning if both["differ_on"] else st.info)(text, icon=":material/balance:")
    st.table(charts.study_frame(both, labels).set_index("metric"))
    st.plotly_chart(charts.spreads_figure(both, labels), key="vs_spreads")
    st.caption(f"Rule: {STUDY_RULE}. Each run's own verdict against retraining is on its own view.")


def _disagreement_section(versus: dict[str, Any], labels: dict[str, str], data: Any, classes: list[str]) -> None:
    rows = versus["disagreement"]
    if not rows:
        st.info("A and B agree on every forget sample.")
        return
    st.session_state["vs_disagree_positions"] = [r["position"] for r in rows]
    images = st.columns(min(N_IMAGES, len(rows)))
    for col, r in zip(images, rows[:N_IMAGES], strict=False):
        image = data.train.x[r["train_index"]].numpy()
        col.image(upscale(image_to_uint8(image), max(1, 72 // image.shape[-1])),
                  caption=f"#{r['train_index']}: A {_cls(r.get('a_prediction'), classes)}, "
                          f"B {_cls(r.get('b_prediction'), classes)}, "
                          f"retrained {_cls(r.get('retrain_prediction'), classes)}")
    st.dataframe(charts.disagreement_frame(versus, labels, classes), hide_index=True, key="vs_disagree",
                 on_select=_pick_from_list, selection_mode="single-row")
    st.caption(charts.DISAGREEMENT_CAPTION)


def _cls(index: int | None, classes: list[str]) -> str:
    return "–" if index is None else classes[index] if 0 <= index < len(classes) else str(index)
