"""Adapters from library progress events to Streamlit widgets."""

from __future__ import annotations

from unlearn_core.progress import ProgressEvent, ProgressFn


def streamlit_progress(bar) -> ProgressFn:
    """A progress callback that updates an `st.progress` bar with the event's message."""

    def report(event: ProgressEvent) -> None:
        loss = f" (loss {event.metrics['loss']:.3f})" if "loss" in event.metrics else ""
        bar.progress(event.fraction, text=f"{event.message}{loss}")

    return report
