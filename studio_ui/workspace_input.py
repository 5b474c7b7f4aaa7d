"""The sidebar's workspace folder box: checked before it becomes the active workspace.

An existing workspace folder is used at once; an empty name, a file, or a folder whose registry is
unreadable is refused (the previous workspace stays active); a folder that does not exist yet is
created only after the user confirms, so a typo never silently starts a new, empty workspace.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from unlearn_core.workspace.store import Workspace, WorkspaceError, check_workspace_root

from . import state

INPUT, PENDING, PROBLEM = "workspace_input", "workspace_pending", "workspace_problem"


def _activate(root: str) -> None:
    """Open (or create) the workspace at `root` and make it active; on failure keep the old one."""
    try:
        Workspace(root)
    except (WorkspaceError, OSError) as err:
        st.session_state[PROBLEM] = str(err)
        st.session_state[INPUT] = state.workspace_root()
        return
    st.session_state["workspace_root"] = root
    st.session_state[INPUT] = root


def _typed() -> None:
    st.session_state.pop(PROBLEM, None)
    st.session_state.pop(PENDING, None)
    root = st.session_state[INPUT].strip()
    try:
        path = check_workspace_root(root)
    except WorkspaceError as err:
        st.session_state[PROBLEM] = str(err)
        st.session_state[INPUT] = state.workspace_root()
        return
    if path.is_dir():
        _activate(root)
    else:
        st.session_state[PENDING] = root


def _create() -> None:
    root = st.session_state.pop(PENDING, None)
    if root:
        _activate(root)


def _cancel() -> None:
    st.session_state.pop(PENDING, None)
    st.session_state[INPUT] = state.workspace_root()


def workspace_input() -> None:
    """The workspace box with its refusal message or its "create this folder?" question."""
    if INPUT not in st.session_state:
        st.session_state[INPUT] = state.workspace_root()
    st.text_input("Workspace folder", key=INPUT, on_change=_typed,
                  help="Runs, models and forget sets are stored here. A new folder is created after you confirm.")
    if problem := st.session_state.get(PROBLEM):
        st.error(f"Not used: {problem}. Still using {state.workspace_root()}.", icon=":material/error:")
    if pending := st.session_state.get(PENDING):
        st.warning(f"{Path(pending).expanduser()} does not exist yet. Create a new, empty workspace there?")
        yes, no = st.columns(2)
        yes.button("Create it", on_click=_create, key="workspace_create")
        no.button("Keep the current one", on_click=_cancel, key="workspace_keep")
