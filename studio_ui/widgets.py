"""Small reusable widgets: sample grids and error display."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import streamlit as st

from studio_ui.navigation import page_file
from unlearn_core.data import Split, SplitDataset

from .charts import image_to_uint8, upscale


def sample_caption(data: SplitDataset, split: Split, i: int) -> str:
    """'label' plus concept tags (shapes) and flags for sample i of `split`."""
    parts = [data.class_names[int(split.y[i])]]
    for attr, values in data.concepts.items():
        if attr in split.meta:
            parts.append(values[int(split.meta[attr][i])])
    for flag in ("mislabeled", "backdoor"):
        if flag in split.meta and bool(split.meta[flag][i]):
            parts.append(flag.upper())
    return " · ".join(parts)


def image_grid(data: SplitDataset, split: Split, indices: Sequence[int], columns: int = 10,
               captions: Sequence[str] | None = None) -> None:
    """Thumbnails of `indices` with their labels (and concepts), `columns` per row."""
    indices = list(indices)
    if not indices:
        st.info("No samples to show.")
        return
    size = split.x.shape[-1]
    factor = max(1, 64 // size)
    images = [upscale(image_to_uint8(split.x[i].numpy()), factor) for i in indices]
    caps = list(captions) if captions is not None else [f"#{i} · {sample_caption(data, split, i)}" for i in indices]
    for row in range(0, len(images), columns):
        cols = st.columns(columns)
        for col, img, cap in zip(cols, images[row:row + columns], caps[row:row + columns], strict=False):
            col.image(img, caption=cap, width="stretch")


@contextmanager
def user_errors(what: str) -> Iterator[None]:
    """Show ValueErrors from the library as a clear message instead of a traceback."""
    try:
        yield
    except ValueError as err:
        st.error(f"{what}: {err}", icon=":material/error:")
        st.stop()


def pct(value: float | None) -> str:
    """A share in [0, 1] as a percentage (`labels.format_number`, the one formatter)."""
    from .labels import format_number

    return format_number(value, percent=True)


def require_forget_set(data: SplitDataset):
    """The active forget selection and its resolved ForgetSet; stops the page with a link if none."""
    from unlearn_core.forget import resolve

    from . import state

    selection = state.forget_selection()
    if selection is None:
        st.info("Choose a forget set first.")
        st.page_link(page_file("forget_set"), label="Go to Forget set", icon=":material/playlist_remove:")
        st.stop()
    with user_errors("The active forget set does not fit this dataset"):
        forget = resolve(selection.spec, data)
    return selection, forget


def scroll_to_top() -> None:
    """Scroll the page's main area to the top (after a page switch from far down another page).

    Streamlit has no API for this: one line of script, run in the page itself (not an iframe).
    """
    st.html("<script>(() => { const m = document.querySelector(\"[data-testid='stMain']\"); "
            "if (m) { m.scrollTo(0, 0); } })();</script>", unsafe_allow_javascript=True)
