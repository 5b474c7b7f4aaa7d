"""AppTest fixtures: a fresh app per test with its own workspace and cleared Streamlit caches."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 240


@pytest.fixture
def app(tmp_path: Path) -> Iterator[AppTest]:
    """The whole app (app.py + navigation) with a temporary workspace, after its first run."""
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.session_state["workspace_root"] = str(tmp_path / "workspace")
    at.run()
    assert not at.exception, at.exception
    yield at
    _cancel_active_runs(tmp_path / "workspace")


def _cancel_active_runs(root: Path) -> None:
    """Stop the worker processes a test left running (e.g. the tour's background seed study)."""
    from tests.study_fixture import cancel_active_runs
    from unlearn_core.workspace.store import Workspace

    if (root / "registry.sqlite").exists():
        cancel_active_runs(Workspace(root))


@pytest.fixture
def wait_for_jobs():
    """A function that reruns the page until the workspace's background runs have finished."""
    return _wait_for_jobs


def _wait_for_jobs(at: AppTest, timeout: float = 600) -> None:
    """Wait until no run of the app's workspace is queued or running (they run in worker processes)."""
    import unlearn_core.runs.records as run_records
    from unlearn_core.workspace.store import Workspace

    workspace = Workspace(at.session_state["workspace_root"])
    deadline = time.time() + timeout
    while time.time() < deadline:
        rows = run_records.list_runs(workspace)
        if rows and not any(r.active for r in rows):
            at.run()
            return
        time.sleep(1)
    raise AssertionError(f"the background run did not finish in time: {run_records.list_runs(workspace)}")
