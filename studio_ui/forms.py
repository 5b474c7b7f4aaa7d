"""Forms generated from a method's config dataclass (its `param` metadata)."""

from __future__ import annotations

import dataclasses
import typing

import streamlit as st

from unlearn_core.methods import MethodConfig


def range_problem(label: str, value: float, low: float | None, high: float | None) -> str | None:
    """What is wrong with `value` for a field limited to [low, high], or None when it fits."""
    if low is not None and value < low:
        return f"{label} must be at least {low:g} (you entered {value:g})."
    if high is not None and value > high:
        return f"{label} must be at most {high:g} (you entered {value:g})."
    return None


def checked_number(label: str, value: float, *, low: float | None = None, high: float | None = None,
                   integer: bool = False, problems: list[str] | None = None, **kwargs) -> float:
    """A number input that accepts any number and says next to itself what is wrong with it.

    Streamlit's own min/max only show a small red icon and silently keep the form from
    submitting; here the value goes through, the message appears under the field, and the caller
    refuses to run while `problems` is not empty.
    """
    if integer:
        entered = st.number_input(label, value=int(value), step=1, **kwargs)
    else:
        entered = st.number_input(label, value=float(value), format="%g", **kwargs)
    problem = range_problem(label, entered, low, high)
    if problem:
        st.error(problem, icon=":material/error:")
        if problems is not None:
            problems.append(problem)
    return int(entered) if integer else float(entered)


def config_form(cls: type[MethodConfig], key: str, problems: list[str] | None = None) -> dict[str, object]:
    """One widget per config field with its help text, range and the paper's value; returns values.

    Out-of-range numbers are reported next to their field and appended to `problems`.
    """
    hints = typing.get_type_hints(cls)
    values: dict[str, object] = {}
    fields = dataclasses.fields(cls)
    if not fields:
        st.caption("This method has no parameters.")
    cols = st.columns(3)
    for n, f in enumerate(fields):
        meta = f.metadata
        help_text = meta.get("help", "") + (f" Paper: {meta['paper']}." if meta.get("paper") else "")
        kind = hints[f.name]
        widget_key = f"{key}_{f.name}"
        with cols[n % 3]:
            if meta.get("choices"):
                choices = list(meta["choices"])
                values[f.name] = st.selectbox(f.name, choices, index=choices.index(f.default), help=help_text, key=widget_key)
            elif kind is bool:
                values[f.name] = st.checkbox(f.name, value=f.default, help=help_text, key=widget_key)
            elif kind in (int, float):
                values[f.name] = checked_number(f.name, f.default, low=meta.get("min"), high=meta.get("max"),
                                                integer=kind is int, problems=problems, help=help_text, key=widget_key)
            else:
                values[f.name] = st.text_input(f.name, value=str(f.default), help=help_text, key=widget_key)
    return values
