"""The guided tour against retraining's spread (issue 22): after the first verdict the tour starts
a K = 4 seed study of its own DEL request in the background (the verdict is not delayed), and once
a study of that request is stored it states the verdict against retraining's spread with bands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import unlearn_core.runs.records as run_records
from tests.study_fixture import K, cancel_active_runs, save_synthetic_study, tour_run
from unlearn_core.data import load_dataset
from unlearn_core.methods import get_method
from unlearn_core.workspace.store import Workspace

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 240


def _tour(root: Path, *, after_click: bool) -> AppTest:
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.session_state["workspace_root"] = str(root)
    if after_click:  # what the tour's button sets: the study starts once the verdict is shown
        at.session_state["tour_study_after_verdict"] = True
    at.run()
    at.switch_page("studio_ui/app_pages/tour.py").run()
    assert not at.exception, at.exception
    return at


@pytest.mark.slow  # cost: one DEL run (about 20 s) and a worker process, cancelled at once
def test_tour_starts_its_study_after_the_verdict_and_shows_it_once_stored(tmp_path: Path) -> None:
    root = tmp_path / "workspace"
    run_id = tour_run(root)
    workspace = Workspace(root)
    at = _tour(root, after_click=True)
    try:
        assert "5. Did it forget like retraining?" in [s.value for s in at.subheader]  # the verdict first
        assert any(m.value.startswith("**Forgetting**") for m in at.markdown)
        (row,) = [r for r in run_records.list_runs(workspace) if r.request.get("study_k")]
        assert (row.request["study_k"], row.request["method"], row.request["forget"]) == (K, "del", "class:3")
        assert row.request["config"] == workspace.get(run_id).info["config"]
        assert "tour_study_after_verdict" not in at.session_state  # started once, never again
    finally:
        cancel_active_runs(workspace, wait_s=120)

    summary = workspace.get(run_id).info
    save_synthetic_study(workspace, load_dataset("digits"), summary, "del",
                         get_method("del").config_cls(**summary["config"]))
    at = _tour(root, after_click=False)
    text = " ".join(m.value for m in at.markdown)
    assert "**Against retraining's own spread** (a seed study, K = 4 seeds per side): DEL is **OUTSIDE" in text
    assert "retraining vs retraining: floor" in text  # the closeness line with its noise floor
    bands = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert any(f["layout"].get("yaxis", {}).get("ticktext") == ["retrained", "unlearned"] for f in bands)
    assert not [r for r in run_records.list_runs(workspace) if r.active]  # nothing restarted on a later visit
