"""Forms generated from a method's config dataclass (its `param` metadata)."""

from __future__ import annotations

import dataclasses
import typing

import streamlit as st

from unlearn_core.methods import MethodConfig


def config_form(cls: type[MethodConfig], key: str) -> dict[str, object]:
    """One widget per config field with its help text, range and the paper's value; returns values."""
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
            elif kind is int:
                values[f.name] = int(st.number_input(
                    f.name, value=int(f.default), step=1, help=help_text, key=widget_key,
                    min_value=None if meta.get("min") is None else int(meta["min"]),
                    max_value=None if meta.get("max") is None else int(meta["max"]),
                ))
            elif kind is float:
                values[f.name] = float(st.number_input(
                    f.name, value=float(f.default), help=help_text, key=widget_key, format="%g",
                    min_value=None if meta.get("min") is None else float(meta["min"]),
                    max_value=None if meta.get("max") is None else float(meta["max"]),
                ))
            else:
                values[f.name] = st.text_input(f.name, value=str(f.default), help=help_text, key=widget_key)
    return values
