"""Forms generated from a method's config schema (`config_schema`: its `param` metadata)."""

from __future__ import annotations

import streamlit as st

from unlearn_core.methods import MethodConfig, config_schema


def config_form(cls: type[MethodConfig], key: str) -> dict[str, object]:
    """One widget per config field with its help text, range and the paper's value; returns values."""
    values: dict[str, object] = {}
    schema = config_schema(cls)
    if not schema:
        st.caption("This method has no parameters.")
    cols = st.columns(3)
    for n, spec in enumerate(schema):
        help_text = spec.help + (f" Paper: {spec.paper}." if spec.paper else "")
        widget_key = f"{key}_{spec.name}"
        with cols[n % 3]:
            if spec.choices:
                choices = list(spec.choices)
                values[spec.name] = st.selectbox(spec.name, choices, index=choices.index(spec.default), help=help_text,
                                                 key=widget_key)
            elif spec.type is bool:
                values[spec.name] = st.checkbox(spec.name, value=spec.default, help=help_text, key=widget_key)
            elif spec.type is int:
                values[spec.name] = int(st.number_input(
                    spec.name, value=int(spec.default), step=1, help=help_text, key=widget_key,
                    min_value=None if spec.min is None else int(spec.min),
                    max_value=None if spec.max is None else int(spec.max),
                ))
            elif spec.type is float:
                values[spec.name] = float(st.number_input(
                    spec.name, value=float(spec.default), help=help_text, key=widget_key, format="%g",
                    min_value=None if spec.min is None else float(spec.min),
                    max_value=None if spec.max is None else float(spec.max),
                ))
            else:
                values[spec.name] = st.text_input(spec.name, value=str(spec.default), help=help_text, key=widget_key)
    return values
