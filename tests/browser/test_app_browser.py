"""The app in a real browser: pages render, and a mouse drag on the embedding selects samples."""

from __future__ import annotations

import re

import pytest

from tests.browser.shot import wait_until_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # a streamlit server and Chromium: minutes


def test_model_page_renders(page, app_url) -> None:
    page.goto(f"{app_url}/model_data")
    page.get_by_role("heading", name="Model & data").wait_for()
    page.locator(".js-plotly-plot").first.wait_for()
    page.get_by_text("Test accuracy per class").first.wait_for()
    page.get_by_text("Samples", exact=True).wait_for()
    assert page.get_by_text("Train images").count() == 1


def test_box_select_on_embedding_updates_forget_set(page, app_url) -> None:
    page.goto(f"{app_url}/forget_set")
    page.get_by_role("heading", name="Forget set").wait_for()
    page.get_by_text("No forget set chosen yet").wait_for()
    page.get_by_role("tab", name="Embedding").click()
    plot = page.locator(".js-plotly-plot").first
    plot.wait_for()
    drag = plot.locator(".nsewdrag").first
    box = drag.bounding_box()
    assert box is not None
    x0, y0 = box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.2
    x1, y1 = box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.8
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=8)
    page.mouse.move(x1, y1, steps=8)
    page.mouse.up()
    selected = page.get_by_text(re.compile(r"[1-9]\d* samples selected on the embedding"))
    selected.wait_for()
    n = int(re.search(r"(\d+) samples", selected.inner_text()).group(1))
    page.get_by_role("button", name="Use the selected samples").click()
    page.get_by_text("Active forget set").wait_for()
    assert page.get_by_text(re.compile(rf"^{n}$")).count() >= 1  # the Forget metric shows the count


def _choose_class_forget_set(page, app_url: str) -> None:
    page.goto(f"{app_url}/forget_set")
    page.get_by_text("No forget set chosen yet").wait_for()
    wait_until_idle(page)  # a click during the first script run can be lost when the widget re-renders
    page.locator("[data-testid='stMultiSelect']").first.click()
    page.get_by_role("option", name="3").click()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Use these classes").click()
    page.get_by_text("Active forget set").wait_for()


def test_localization_heatmap_renders(page, app_url) -> None:
    _choose_class_forget_set(page, app_url)
    page.get_by_role("link", name="Localization").click()
    page.get_by_role("heading", name="Localization").wait_for()
    page.get_by_text("channel scores and selection").first.wait_for()
    assert page.locator(".js-plotly-plot .heatmaplayer").count() >= 1


def test_concepts_ig_heatmap_renders(page, app_url) -> None:
    page.goto(f"{app_url}/model_data")
    page.get_by_role("heading", name="Model & data").wait_for()
    page.locator("[data-testid='stSelectbox']").filter(has_text="Dataset").click()
    page.get_by_role("option", name="shapes (built in)").click()
    page.get_by_text("Image shape (C×H×W)").wait_for()
    page.get_by_text("3×32×32").wait_for()
    page.get_by_role("link", name="Concepts").click()
    page.get_by_text("Integrated Gradients of each class's bottleneck logit").first.wait_for()
    assert page.locator(".js-plotly-plot .heatmaplayer").count() >= 1


def test_guided_tour_runs_in_one_click(page, app_url) -> None:
    page.goto(f"{app_url}/tour")
    page.get_by_role("heading", name="Guided tour").wait_for()
    page.get_by_text("Share of each parameter tensor DEL resets").first.wait_for()
    page.get_by_role("button", name="Run the tour").click()
    # live progress, then the comparison: the fragment polls the background run and reruns the page once
    page.get_by_role("heading", name="5. Did it forget like retraining?").wait_for(timeout=600_000)
    page.get_by_text("Test accuracy per class").first.wait_for()
    assert page.get_by_text("Closeness to retraining").count() == 1
    # the settings line shows what DEL resolved (a whole class: the paper's budget), not the config's auto 0
    assert page.get_by_text(re.compile(r"DEL ran with its default settings \(.*budget 0\.3,.*epochs 10,")).count() == 1
    page.get_by_role("button", name="Run the tour again").wait_for()

