"""Issue 25 item 2 in the app: the previous dataset's figures are cleared before the new ones
compute, and a UMAP shows its progress (with an estimate once one was timed in the workspace)."""

from __future__ import annotations

from typing import Any

from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.testing.v1 import AppTest

import unlearn_core.workspace.feature_cache as feature_cache


def _chart_paths(node: Any, path: tuple[int, ...] = ()) -> list[tuple[int, ...]]:
    """Delta paths of every plotly chart under `node` of an AppTest tree."""
    if getattr(node, "type", None) == "plotly_chart":
        return [path]
    return [p for i, child in getattr(node, "children", {}).items() for p in _chart_paths(child, (*path, i))]


def _cleared(paths: list[tuple[int, ...]], sent: list[Any]) -> bool:
    """True when each path was replaced by an element at it or at a block above it (a new element
    there drops whatever the frontend still showed from the previous run)."""
    replaced = {tuple(m.metadata.delta_path) for m in sent
                if m.WhichOneof("type") == "delta" and m.delta.WhichOneof("type") == "new_element"}
    return all(any(path[:k] in replaced for k in range(1, len(path) + 1)) for path in paths)


def test_switching_dataset_clears_the_previous_figures_before_computing(app: AppTest, monkeypatch) -> None:
    app.switch_page("studio_ui/app_pages/model_data.py").run()
    digits_charts = _chart_paths(app._tree)
    assert digits_charts, "the digits page draws its per-class chart"
    seen: list[bool] = []
    compute = feature_cache.model_outputs

    def watched(root, model, dataset, split, **kwargs):
        if dataset.name == "shapes":  # the moment the new dataset's heavy work starts
            sent = get_script_run_ctx()._enqueue.__self__.forward_msgs()
            seen.append(_cleared(digits_charts, sent))
        return compute(root, model, dataset, split, **kwargs)

    monkeypatch.setattr(feature_cache, "model_outputs", watched)
    app.selectbox(key="dataset_choice").set_value("shapes").run()
    assert not app.exception, app.exception
    assert seen and all(seen), "a digits chart was still on the page while shapes computed"
    assert app.metric[0].value == "6000"  # the shapes page was drawn in the end


def test_umap_shows_progress_with_a_measured_estimate(app: AppTest, monkeypatch) -> None:
    import studio_ui.resources as resources

    shown: list[tuple[str, Any]] = []
    real = resources.estimated_progress

    def recording(slot, text, estimate):
        shown.append((text, estimate))
        return real(slot, text, estimate)

    monkeypatch.setattr(resources, "estimated_progress", recording)
    monkeypatch.setattr(feature_cache, "train_projection",
                        lambda root, model, dataset, method, **kw: __import__("numpy").zeros((len(dataset.train), 2),
                                                                                            "float32"))
    app.switch_page("studio_ui/app_pages/forget_set.py").run()
    app.radio[0].set_value("umap").run()
    assert not app.exception, app.exception
    umap = [(text, est) for text, est in shown if "UMAP" in text]
    assert umap and umap[-1][1] is None and "timed now" in umap[-1][0]  # first one: no figure made up
    feature_cache.record_timing(app.session_state["workspace_root"], "projection_umap", 9.0, 3000)
    import streamlit as st

    st.cache_resource.clear()  # a new server on the same workspace: the estimate comes from the stored timing
    shown.clear()
    app.run()
    seconds, line = next(est for text, est in shown if "UMAP" in text)
    assert seconds == 9.0 * len(resources.get_dataset(app.session_state["data_ref"]).train) / 3000 and "took 9.0 s for 3,000 points" in line


def test_compare_on_a_restart_runs_no_model_and_no_integrated_gradients(app: AppTest, digits_external_run, tmp_path,
                                                                        monkeypatch) -> None:
    import shutil

    import streamlit as st

    root = tmp_path / "workspace_copy"
    shutil.copytree(digits_external_run[0], root)
    app.session_state["workspace_root"] = str(root)
    app.switch_page("studio_ui/app_pages/compare.py").run()
    assert not app.exception and not app.error, (app.exception, [e.value for e in app.error])
    drawn = len(app.get("plotly_chart"))

    def recomputed(*args, **kwargs):
        raise AssertionError("computed again on a restart instead of read from the workspace")

    st.cache_resource.clear()  # a restarted server on the same workspace
    monkeypatch.setattr(feature_cache, "_forward", recomputed)  # the models' outputs (scores, matrices, projection)
    monkeypatch.setattr("unlearn_core.train.predict_logits", recomputed)
    monkeypatch.setattr("studio_ui.inspect_view.sample_view", recomputed)  # the drill-down's IG maps
    app.run()
    assert not app.exception and not app.error, (app.exception, [e.value for e in app.error])
    assert len(app.get("plotly_chart")) == drawn
