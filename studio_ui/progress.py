"""Adapters from library progress events to Streamlit widgets."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx

from unlearn_core.progress import ProgressEvent, ProgressFn


def streamlit_progress(bar) -> ProgressFn:
    """A progress callback that updates an `st.progress` bar with the event's message."""

    def report(event: ProgressEvent) -> None:
        loss = f" (loss {event.metrics['loss']:.3f})" if "loss" in event.metrics else ""
        bar.progress(event.fraction, text=f"{event.message}{loss}")

    return report


@contextmanager
def estimated_progress(slot: Any, text: str, estimate: tuple[float, str] | None) -> Iterator[ProgressFn]:
    """A progress bar in `slot` (an `st.empty()` placeholder; a new one, emptied afterwards, when None)
    for the computation run inside the `with` block; yields the callback to give the library.

    Without an estimate the bar follows the library's progress events. With one (seconds, the line
    that says where it comes from) the bar fills with the elapsed share of it, ticking twice a
    second while the computation runs, and shows the library's latest message beside it.
    """
    own = slot is None
    slot = st.empty() if own else slot
    line = text if estimate is None else f"{text} {estimate[1]}"
    bar = slot.progress(0.0, text=line)
    message = {"text": line}
    stop = threading.Event()
    ticker = None
    if estimate is not None:
        start = time.perf_counter()

        def tick() -> None:
            while not stop.wait(0.5):
                elapsed = time.perf_counter() - start
                bar.progress(min(elapsed / max(estimate[0], 1e-3), 0.99),
                             text=f"{message['text']} · {elapsed:.0f} s so far")

        ticker = threading.Thread(target=tick, daemon=True)
        add_script_run_ctx(ticker)
        ticker.start()

    def report(event: ProgressEvent) -> None:
        if ticker is None:
            bar.progress(event.fraction, text=event.message)
        else:
            message["text"] = f"{event.message}: {estimate[1]}"

    try:
        yield report
    finally:
        stop.set()
        if ticker is not None:
            ticker.join()
        if own:
            slot.empty()
