"""Take a full-page screenshot of a running app page: python tests/browser/shot.py URL OUT.png [WAIT_TEXT]."""

from __future__ import annotations

import shutil
import sys

from playwright.sync_api import sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def wait_until_idle(page, timeout_ms: int = 120_000) -> None:
    """Wait until Streamlit has finished running the script (its status widget is gone)."""
    page.wait_for_timeout(1000)
    page.wait_for_function(
        "() => !document.querySelector(\"[data-testid='stStatusWidget']\")", timeout=timeout_ms
    )
    page.wait_for_timeout(1500)


def main() -> None:
    url, out = sys.argv[1], sys.argv[2]
    wait_text = sys.argv[3] if len(sys.argv) > 3 else None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": int(sys.argv[4]) if len(sys.argv) > 4 else 1800})
        page.goto(url)
        page.wait_for_selector("[data-testid='stAppViewContainer']", timeout=60_000)
        if wait_text:
            page.get_by_text(wait_text).first.wait_for(timeout=120_000)
        wait_until_idle(page)
        page.screenshot(path=out, full_page=True)
        browser.close()


if __name__ == "__main__":
    main()
