"""The one error boundary around every page: a one-line message and a way back, never a traceback.

Expected problems (bad input) are shown where they happen, by `widgets.user_errors`. Anything
else that escapes a page lands here: the user sees one line and a "Back to the defaults" button
(which forgets the dataset, model, forget set and workspace choices that led there), and the
full trace goes to the workspace's ``logs/`` folder for a bug report.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from unlearn_core.errors import one_line, write_trace

from . import state

# Session keys that describe the user's choices; "back to the defaults" forgets them.
CHOICES = ("data_ref", "model_ref", "forget_selection", "compare_runs")


def reset_to_defaults() -> None:
    """Forget the session's choices and go back to the default dataset, model and workspace."""
    state.clear_saved_selection(state.workspace_root())  # else a reload would bring the broken choice back
    for key in (*CHOICES, "workspace_problem", "workspace_pending"):
        st.session_state.pop(key, None)
    default = os.environ.get("UNLEARN_STUDIO_WORKSPACE", "workspace")
    st.session_state["workspace_root"] = default
    st.session_state["workspace_input"] = default
    state.clear_saved_selection(default)


@contextmanager
def error_boundary(key: str = "error_boundary_reset") -> Iterator[None]:
    """Contain an unexpected exception: one line and a "Back to the defaults" button (widget key
    `key`) instead of a traceback, the trace written to the workspace log.

    Streamlit's own control flow (st.stop, st.rerun, st.switch_page) derives from BaseException
    and passes through untouched. Fragments need their own boundary: Streamlit renders an
    exception raised in a fragment rerun itself, so it never reaches the page's.
    """
    try:
        yield
    except Exception as err:
        log = write_trace(err, state.workspace_root(), "app")
        where = f" The details are in {log}." if log else ""
        st.error(f"Something went wrong on this page: {one_line(err)}.{where}", icon=":material/error:")
        st.button("Back to the defaults", icon=":material/restart_alt:", on_click=reset_to_defaults, key=key)


def run_page(page: StreamlitPage) -> None:
    """Run the selected page inside the error boundary."""
    with error_boundary():
        page.run()
