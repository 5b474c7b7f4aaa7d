"""Runs outlive the browser session: a run started in one AppTest session is listed, with its
progress, by a new session on the same workspace, which can cancel it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import unlearn_core.runs.records as run_records
from studio_ui.state import ForgetSelection
from unlearn_core.workspace.store import Workspace

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 240


def _session(workspace: Path) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.session_state["workspace_root"] = str(workspace)
    at.session_state["forget_selection"] = ForgetSelection("class:3", "class 3")
    at.run()
    at.switch_page("studio_ui/app_pages/unlearn.py").run()
    assert not at.exception, at.exception
    return at


@pytest.mark.slow  # cost: starts a worker process
def test_a_new_session_lists_a_running_run_and_cancels_it(app: AppTest, tmp_path: Path) -> None:
    root = Path(app.session_state["workspace_root"])
    first = _session(root)
    next(b for b in first.button if b.label == "Run").click().run()
    assert not first.exception and not first.error, [e.value for e in first.error]
    (started,) = run_records.list_runs(Workspace(root))
    del first  # the browser tab is gone; the worker process is not
    st.cache_resource.clear()

    second = _session(root)
    deadline = time.time() + 180
    while run_records.get(Workspace(root), started.id).status != "running" and time.time() < deadline:
        time.sleep(0.5)
    second.run()
    assert any(started.title in m.value and "running" in m.value for m in second.markdown), \
        [m.value for m in second.markdown]
    assert len(second.get("progress")) == 1
    second.button(key=f"unlearn_cancel_{started.id}").click().run()
    assert run_records.get(Workspace(root), started.id).cancel_requested
    deadline = time.time() + 60
    while run_records.get(Workspace(root), started.id).active and time.time() < deadline:
        time.sleep(0.5)
    second.run()
    ended = run_records.get(Workspace(root), started.id)
    assert ended.status == "cancelled" and ended.message.startswith(("cancelled", "terminated"))
    assert ended.message in [w.value for w in second.warning]  # beside the method's caveat, if it has one
    assert Workspace(root).list("run") == []
