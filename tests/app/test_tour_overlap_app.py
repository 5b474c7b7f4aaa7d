"""The guided tour's click (issue 23): DEL and RFA start together so RFA's run trains the retrained
model beside DEL's method; a stored run is shown, not computed again; the verdict appears once DEL's
run (which holds the retrained model's figures) is done, even while RFA still runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import unlearn_core.runs.records as run_records
from studio_ui import tour_runs
from tests.study_fixture import cancel_active_runs, tour_run
from unlearn_core.workspace.store import Workspace

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 240
VERDICT = "5. Did it forget like retraining?"


def _tour(root: Path) -> AppTest:
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.session_state["workspace_root"] = str(root)
    at.run()
    at.switch_page("studio_ui/app_pages/tour.py").run()
    assert not at.exception, at.exception
    return at


def _fast_request() -> dict:
    from studio_ui.jobs import request_for
    from unlearn_core.methods import get_method

    config = get_method(tour_runs.FAST_METHOD).config_cls()
    return request_for(tour_runs.FORGET.spec, tour_runs.FAST_METHOD, config, seed=tour_runs.SEED,
                       data=tour_runs.DATA, model=tour_runs.MODEL).to_dict()


@pytest.fixture(scope="module")
def stored_del(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace holding the tour's DEL run (and so its retrained model), nothing else."""
    root = tmp_path_factory.mktemp("tour") / "workspace"
    tour_run(root)
    return root


@pytest.fixture
def del_only(stored_del: Path, tmp_path: Path) -> Path:
    """A copy of `stored_del` this test may change."""
    return Path(shutil.copytree(stored_del, tmp_path / "workspace"))


@pytest.mark.slow  # cost: two worker processes started, then cancelled
def test_the_click_starts_del_and_rfa_together(tmp_path: Path) -> None:
    root = tmp_path / "workspace"
    at = _tour(root)
    try:
        at.button(key="tour_start").click().run()
        assert not at.exception, at.exception
        rows = run_records.list_runs(Workspace(root))
        # both queued or running before either finished: RFA's run can train the oracle beside DEL's method
        assert sorted(r.method for r in rows if r.active) == ["del", "rfa"], rows
        assert len(at.session_state["my_runs"]) == 2
    finally:
        cancel_active_runs(Workspace(root), wait_s=120)


@pytest.mark.slow  # cost: the tour's DEL run (about 20 s), once for the module
def test_a_stored_run_is_shown_and_only_the_missing_one_starts(del_only: Path) -> None:
    at = _tour(del_only)
    try:
        assert VERDICT in [s.value for s in at.subheader]  # shown at once, before any click
        assert at.button(key="tour_start").label == "Run the tour"  # RFA is not stored yet
        at.button(key="tour_start").click().run()
        rows = run_records.list_runs(Workspace(del_only))
        assert [r.method for r in rows] == ["rfa"], rows  # DEL's stored run is not computed again
    finally:
        cancel_active_runs(Workspace(del_only), wait_s=120)


@pytest.mark.slow  # cost: the tour's DEL run (about 20 s), once for the module
def test_the_verdict_shows_while_rfa_still_runs(del_only: Path) -> None:
    workspace = Workspace(del_only)
    run_records.create(workspace, "rfa-running", "Tour: RFA", _fast_request())  # queued: RFA not done yet
    at = _tour(del_only)
    assert VERDICT in [s.value for s in at.subheader]
    assert any(m.value.startswith("**Forgetting**") for m in at.markdown)
    assert list(at.dataframe[0].value.columns) == ["original", "DEL", "retrained (reference)"]  # RFA follows
    assert any("RFA is still running" in m.value for m in at.markdown)
    assert not [r for r in run_records.list_runs(workspace) if r.request.get("study_k")]  # not beside RFA
    assert [r.id for r in run_records.list_runs(workspace) if r.active] == ["rfa-running"]
