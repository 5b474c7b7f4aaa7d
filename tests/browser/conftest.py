"""Real-browser fixtures: the app served by `streamlit run` on a free port, driven by Playwright
in Debian's Chromium (never `playwright install`)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_app(workspace: Path, log_path: Path) -> Iterator[str]:
    """`streamlit run app.py` on a free localhost port with `workspace`; yields its URL."""
    port = _free_port()
    env = {**os.environ, "UNLEARN_STUDIO_WORKSPACE": str(workspace)}
    log = open(log_path, "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError("streamlit did not start")
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.fixture(scope="session")
def app_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workspace folder of the app the browser tests share."""
    return tmp_path_factory.mktemp("workspace")


@pytest.fixture(scope="session")
def app_url(app_workspace: Path, tmp_path_factory: pytest.TempPathFactory):
    """Start the app on localhost with a temporary workspace; yield its URL."""
    with serve_app(app_workspace, tmp_path_factory.mktemp("logs") / "streamlit.log") as url:
        yield url


@pytest.fixture(autouse=True)
def _first_visit(app_workspace: Path) -> None:
    """Each browser test opens the app as a first visitor: the selection the app restores after a
    reload (the workspace's selection file, written by an earlier test) is removed first."""
    from studio_ui.state import SELECTION_FILE

    (app_workspace / SELECTION_FILE).unlink(missing_ok=True)


@pytest.fixture(scope="session")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:  # a machine without Chromium skips these tests cleanly (install.sh --with-browser)
        pytest.skip("Chromium is not installed: apt-get install -y chromium (or scripts/install.sh --with-browser)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    sync_playwright = sync_api.sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    pg = context.new_page()
    pg.set_default_timeout(180_000)
    yield pg
    out = ROOT / "test-artifacts"
    out.mkdir(exist_ok=True)
    pg.screenshot(path=str(out / f"{request.node.name}.png"), full_page=True)
    context.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder starts a Streamlit server and Chromium (minutes): `browser` and
    `slow`, so the fast tier (``-m "not slow"``) never runs one."""
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)
