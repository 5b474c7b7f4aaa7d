"""Compare's A vs B in a real browser on two cheap digits runs: pick run B, see the metric table,
the three prediction matrices, the disagreement list with its images, and click a forget sample
in A's projection panel: the shared picker follows and both panels star that sample."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.browser.conftest import serve_app
from tests.browser.shot import wait_until_idle
from tests.study_fixture import METHOD, build, save_synthetic_study

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory):
    from unlearn_core.data import load_dataset
    from unlearn_core.methods import get_method
    from unlearn_core.workspace.store import Workspace

    ws = build(tmp_path_factory.mktemp("versus_browser") / "workspace")
    workspace = Workspace(ws.root)
    save_synthetic_study(workspace, load_dataset("digits"), workspace.get(ws.plain_run).info, METHOD,
                         get_method(METHOD).config_cls(epochs=2))
    return ws


def _versus(root: Path, run_a: str, run_b: str) -> dict:
    from unlearn_core.inspect import load_run, run_dataset, run_original
    from unlearn_core.inspect.versus import versus_inspection
    from unlearn_core.workspace.store import Workspace

    cpu = torch.device("cpu")
    workspace = Workspace(root)
    data = run_dataset(workspace.get(run_a))
    original = run_original(workspace.get(run_a), data, device=cpu, workspace=workspace)
    return versus_inspection(load_run(workspace, run_a, original, data), load_run(workspace, run_b, original, data),
                             device=cpu, layers=False)


def test_a_vs_b_in_the_browser(browser, two_runs, tmp_path) -> None:
    run_a, run_b = two_runs.plain_run, two_runs.studied_run  # A: the newest run, what Compare opens with
    versus = _versus(two_runs.root, run_a, run_b)
    proj = versus["projection"]
    ys = np.asarray(proj["coords"]["a"])[: proj["n_forget"], 1]
    first = versus["disagreement"][0]["position"]  # chosen before any click
    target = int(np.argmin(ys)) if int(np.argmin(ys)) != first else int(np.argmax(ys))
    expected = f"#{proj['train_index'][target]} "

    with serve_app(two_runs.root, tmp_path / "streamlit.log") as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.set_default_timeout(600_000)
        page.goto(f"{url}/compare")
        page.get_by_text("Run history").first.wait_for()
        wait_until_idle(page, 600_000)
        page.locator("[data-testid='stSelectbox']").filter(has_text="Against run B").click()
        page.get_by_role("option").filter(has_text=run_b).click()
        page.get_by_text("Forget samples on which A and B disagree most").first.wait_for()
        wait_until_idle(page, 600_000)

        assert page.get_by_text("closer to retraining").count() >= 1  # the A / B / retrained table
        matrices = page.locator(".js-plotly-plot").filter(has_text="Prediction matrices on the forget samples")
        assert matrices.locator(".heatmaplayer").count() == 3 or matrices.locator("g.hm").count() == 3
        images = page.locator("[data-testid='stImage'] img, [data-testid='stImageContainer'] img")
        assert images.count() >= 8  # the most disputed forget samples, shown
        assert page.get_by_text("|scaled A − scaled B|").count() >= 1 or \
            page.locator("[data-testid='stDataFrame']").count() >= 2

        picker = page.locator("[data-testid='stSelectbox']").filter(has_text="highlighted in both").locator("input")
        assert expected not in picker.input_value()
        chart = page.locator(".js-plotly-plot").filter(has_text="on one shared PCA projection")
        chart.scroll_into_view_if_needed()
        panel_a = chart.locator(".subplot.xy .scatterlayer .trace").nth(2)  # test, retrained, A's forget samples
        box = panel_a.locator("path.point").nth(target).bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.locator(".hoverlayer .hovertext").first.wait_for()
        page.mouse.down()
        page.mouse.up()
        page.wait_for_function(
            "([text]) => [...document.querySelectorAll(\"[data-testid='stSelectbox'] input\")]"
            ".some(e => e.value.startsWith(text))", arg=[expected], timeout=600_000)
        wait_until_idle(page, 600_000)
        assert picker.input_value().startswith(expected)
        title = chart.locator(".gtitle").first.text_content()
        assert expected.strip() in title  # the figure is redrawn around that sample
        stars = chart.locator("path.point[d*='L']")  # one star per panel (plus the rings)
        assert stars.count() >= 2
        out = os.environ.get("VERSUS_SHOT")
        page.screenshot(path=out or str(tmp_path / "versus.png"), full_page=True)
        page.close()
