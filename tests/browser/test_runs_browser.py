"""A run outlives a page reload: started on Unlearn, still listed with moving progress after the
reload, then finished and opened on Compare (issue 9)."""

from __future__ import annotations

import re
import time

import pytest

from tests.browser.shot import wait_until_idle

pytestmark = pytest.mark.browser


_MAIN_SCROLL = "document.querySelector(\"[data-testid='stMain']\").scrollTop"


def _progress(page) -> float:
    bar = page.locator("[data-testid='stProgress'] [role='progressbar']").first
    return float(bar.get_attribute("aria-valuenow") or 0)


def test_run_survives_a_reload_and_opens_on_compare(page, app_url) -> None:
    page.goto(f"{app_url}/forget_set")
    page.get_by_text("No forget set chosen yet").wait_for()
    wait_until_idle(page)
    page.locator("[data-testid='stMultiSelect']").first.click()
    page.get_by_role("option", name="3").click()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Use these classes").click()
    page.get_by_text("Active forget set").wait_for()
    page.get_by_role("link", name="Unlearn").click()
    page.locator("h1").filter(has_text="Unlearn").wait_for()
    wait_until_idle(page)
    page.get_by_role("button", name="Run").click()
    page.locator("[data-testid='stProgress']").first.wait_for(timeout=120_000)

    page.reload()  # the session and its state are gone; the run is not
    page.locator("h1").filter(has_text="Unlearn").wait_for()
    page.locator("[data-testid='stProgress']").first.wait_for(timeout=60_000)
    first = _progress(page)
    deadline = time.time() + 240
    while _progress(page) == first and time.time() < deadline:
        page.wait_for_timeout(1000)
    assert _progress(page) != first, "the progress did not move after the reload"

    button = page.get_by_role("button", name="Compare in detail").first
    button.wait_for(timeout=600_000)
    wait_until_idle(page)
    page.set_viewport_size({"width": 1400, "height": 320})  # the button now sits below the fold
    button.scroll_into_view_if_needed()  # as when the result sits far down Unlearn: the page is scrolled
    assert page.evaluate(_MAIN_SCROLL) > 50
    button.click()
    page.locator("h1").filter(has_text="Compare").wait_for()
    # the finished run, on Compare, under the forget set's name (the spec is in its tooltip)
    page.get_by_text(re.compile(r"forgetting .+ \(146 samples\)")).first.wait_for()
    wait_until_idle(page)
    assert page.evaluate(_MAIN_SCROLL) == 0, "Compare did not open at the top"
