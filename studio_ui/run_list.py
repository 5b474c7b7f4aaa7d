"""The run list shown on Unlearn, the tour and Compare: live progress, cancel, one-line errors."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from unlearn_core.runs.records import RunRow

from . import jobs, state
from .error_boundary import error_boundary
from .labels import format_duration

POLL_S = 1.0


QUEUED_WHY = "waiting for its worker process to start (Python and the library load first, a few seconds)"
STARTING_WHY = "loading the library, the data and the model"


def status_line(row: RunRow, now: float | None = None) -> str:
    """The status and time of a run in words: "done in 12 s", "cancelled before it started",
    "cancelled after 8 s", "queued for 3 s" (never "cancelled · 0 s")."""
    took = format_duration(row.elapsed(now))
    if row.status == "cancelled":
        if row.started is None:
            return "cancelled before it started"
        return f"cancelled after {took}"
    if row.status == "queued":
        return f"queued for {took}"
    if row.status == "done":
        return f"done in {took}"
    if row.active:
        return f"running for {took}"
    return f"{row.label} after {took}"


def progress_text(row: RunRow) -> str:
    """What an active run is doing, including why it waits: a queued run waits for its worker process,
    a just-started one loads the library (`QUEUED_WHY`, `STARTING_WHY`)."""
    if row.status == "queued":
        text = QUEUED_WHY
    elif row.message in ("", "starting", "queued"):
        text = STARTING_WHY
    else:
        text = row.message
    return f"cancel requested · {text}" if row.cancel_requested and "cancel" not in text else text


def run_status(row: RunRow, key: str) -> None:
    """One run: title, status and elapsed time; a progress bar and a cancel button while it runs,
    the one-line reason and the log file when it failed."""
    st.markdown(f"**{row.title}** · {status_line(row)}")
    if row.active:
        text = progress_text(row)
        st.progress(row.progress, text=text)
        if st.button("Cancel", key=f"{key}_cancel_{row.id}", icon=":material/cancel:",
                     disabled=row.cancel_requested):
            jobs.cancel(row.id)
    elif row.status == "failed":
        st.error(f"The run failed: {row.error}", icon=":material/error:")
        st.caption(f"Details in the log file `{row.log_path}`.")
    elif row.status == "cancelled":
        st.warning(row.message, icon=":material/cancel:")
    elif row.id in st.session_state.get("my_runs", []):
        state.remember_run(row.id)


def open_on_compare(row: RunRow, key: str) -> None:
    """A button that opens exactly this (finished) run on Compare, at the top of the page."""
    if st.button("Compare in detail", key=f"{key}_open_{row.id}", icon=":material/compare:"):
        state.open_in_compare(row.id)


def run_list(key: str, *, dataset: str | None = None, limit: int = 5, title: str = "Runs",
             active_only: bool = False, on_done: Callable[[RunRow], None] | None = None) -> None:
    """The workspace's newest runs (optionally only the running ones), refreshed every second;
    `on_done` shows a finished run (default: a button that opens it on Compare)."""

    @st.fragment(run_every=POLL_S)
    def show() -> None:
        with error_boundary(f"{key}_runs_reset"):
            rows = [r for r in jobs.runs(dataset, limit) if r.active or not active_only]
            if not rows:
                return
            st.subheader(title)
            for row in rows:
                with st.container(border=True):
                    run_status(row, key)
                    if row.status == "done":
                        (on_done or (lambda r: open_on_compare(r, key)))(row)

    show()
