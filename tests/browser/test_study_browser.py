"""Compare's seed-study view in a real browser (issue 22): a stored study's bands per metric and
its ε histogram are drawn, and "Run a seed study" starts a tracked study run with live progress
(cancelled at once)."""

from __future__ import annotations

import time

import pytest

import unlearn_core.runs.records as run_records
from tests.browser.conftest import serve_app
from tests.browser.shot import wait_until_idle
from tests.study_fixture import build
from unlearn_core.workspace.store import Workspace

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def study_app(tmp_path_factory: pytest.TempPathFactory):
    """The app served on a workspace with two fine-tune runs and a stored study of the first."""
    ws = build(tmp_path_factory.mktemp("study_browser") / "workspace")
    with serve_app(ws.root, tmp_path_factory.mktemp("logs") / "streamlit.log") as url:
        yield url, ws
    workspace = Workspace(ws.root)
    for r in run_records.list_runs(workspace):
        if r.active:
            run_records.request_cancel(workspace, r.id)


def _pick_run(page, run_id: str) -> None:
    page.locator("[data-testid='stMain'] [data-testid='stSelectbox']").first.click()
    page.get_by_role("option").filter(has_text=run_id).click()
    wait_until_idle(page)


def test_stored_study_draws_bands_and_the_epsilon_histogram(page, study_app) -> None:
    url, ws = study_app
    page.goto(f"{url}/compare")
    page.get_by_role("heading", name="Against retraining's own spread (seed study)").wait_for()
    wait_until_idle(page)
    _pick_run(page, ws.studied_run)
    page.get_by_text("One panel per headline metric").first.wait_for()
    # the bands: one panel per metric, its title the verdict, the band and the unlearned dots drawn
    page.get_by_text("Forget accuracy: OUTSIDE retraining's spread").first.wait_for()
    assert page.get_by_text("Retain accuracy: within retraining's spread").count() >= 1
    bands = page.locator(".js-plotly-plot").filter(has_text="unlearned runs (K seeds)").first
    assert bands.locator(".shapelayer path").count() >= 1  # the retrained bands
    assert bands.locator(".scatterlayer .point").count() >= 5 * 4  # K unlearned dots per metric, at least
    # the ε histogram: its bars, the last bin holding the planted separable half
    hist = page.locator(".js-plotly-plot").filter(has_text="Per-example ε over").first
    hist.scroll_into_view_if_needed()
    assert hist.locator(".barlayer .point").count() == 5  # four scored bins and "≥ 2 (scores 0)"
    assert hist.get_by_text("≥ 2 (scores 0)").count() == 1
    page.get_by_text("Reference: retraining vs retraining at K = 4").first.wait_for()
    page.get_by_text("The most distinguishable forget examples").first.wait_for()
    assert page.locator("[data-testid='stImage']").count() >= 8


def test_study_button_starts_a_study_run_with_progress(page, study_app) -> None:
    url, ws = study_app
    page.goto(f"{url}/compare")
    page.get_by_role("heading", name="Against retraining's own spread (seed study)").wait_for()
    wait_until_idle(page)
    _pick_run(page, ws.plain_run)
    page.get_by_text("No seed study of this request yet").wait_for()
    page.get_by_text("4", exact=True).first.click()  # K = 4
    wait_until_idle(page)
    page.get_by_text("4 × (retraining").first.wait_for()
    page.get_by_role("button", name="Run a seed study").click()
    page.locator("[data-testid='stProgress']").first.wait_for(timeout=60_000)
    workspace = Workspace(ws.root)
    rows = [r for r in run_records.list_runs(workspace) if r.request.get("study_k")]
    assert len(rows) == 1 and rows[0].request["study_k"] == 4
    page.get_by_role("button", name="Cancel").first.click()
    deadline = time.time() + 120
    while run_records.get(workspace, rows[0].id).active and time.time() < deadline:
        time.sleep(1)
    assert run_records.get(workspace, rows[0].id).status == "cancelled"
