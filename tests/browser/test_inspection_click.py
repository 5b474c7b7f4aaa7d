"""A click on a forget sample of Compare's "still remembered?" scatter opens that sample's drill-down."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.browser.conftest import serve_app
from tests.browser.shot import wait_until_idle
from unlearn_core.data import load_dataset
from unlearn_core.forget import resolve
from unlearn_core.inspect import inspection_sample
from unlearn_core.models.defaults import load_default
from unlearn_core.train import predict_logits

pytestmark = pytest.mark.browser


def test_click_on_a_forget_sample_opens_its_drilldown(browser, digits_external_run, tmp_path) -> None:
    root, _ = digits_external_run
    data = load_dataset("digits")
    sample = inspection_sample(data, resolve("class:3", data, 0), seed=0)
    model, _ = load_default("digits", device=torch.device("cpu"))
    x = data.train.subset(sample.forget_idx)
    confidence = torch.softmax(predict_logits(model, x.x), 1)[:, 3].numpy()
    target = int(np.argmin(confidence))  # the lowest point of the scatter: no other point on top of it
    assert target != 0  # position 0 is what the drill-down shows before any click
    expected = f"#{int(sample.forget_idx[target])} (3)"

    with serve_app(root, tmp_path / "streamlit.log") as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.set_default_timeout(600_000)
        page.goto(f"{url}/compare")
        page.get_by_text("Still remembered? Forget samples").first.wait_for()
        wait_until_idle(page, 600_000)
        picker = page.locator("[data-testid='stSelectbox']").filter(has_text="Forget sample").locator("input")
        assert expected not in picker.input_value()  # the chosen option is the input's value, not its text
        scatter = page.locator(".js-plotly-plot").filter(has_text="Still remembered? Forget samples")
        scatter.scroll_into_view_if_needed()
        points = scatter.locator(".scatterlayer .trace").first.locator("path.point")
        box = points.nth(target).bounding_box()
        assert box is not None
        # plotly picks the clicked point from its hover data: hover first, then press (as Streamlit's own tests do)
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.locator(".hoverlayer .hovertext").first.wait_for()
        page.mouse.down()
        page.mouse.up()
        page.wait_for_function(
            "([text]) => [...document.querySelectorAll(\"[data-testid='stSelectbox'] input\")]"
            ".some(e => e.value.includes(text))", arg=[expected], timeout=600_000)
        wait_until_idle(page, 600_000)
        assert expected in picker.input_value()
        page.screenshot(path=str(tmp_path / "click.png"), full_page=True)
        page.close()
