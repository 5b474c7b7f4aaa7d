"""Forms generated from a method's config schema (`config_schema`: its `param` metadata)."""

from __future__ import annotations

import streamlit as st

from unlearn_core.methods import MethodConfig, config_schema

from .labels import format_setting


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


def auto_text(value: object) -> str:
    """How the form shows an "auto" setting: the value it resolves to, or the library's sentence."""
    if isinstance(value, str) and ":" in value:  # "chosen at run time: ..." -> "auto (chosen at run time)"
        return f"auto ({value.split(':')[0]})"
    return f"auto ({format_setting(value)})"


def auto_number(label: str, resolved: object, *, integer: bool, help: str, key: str) -> float | int | None:
    """A number input left empty with "auto (0.30)" in it: empty means auto (None); a number typed in
    replaces the resolved value."""
    return st.number_input(label, value=None, step=1 if integer else None, format=None if integer else "%g",
                           placeholder=auto_text(resolved), help=help, key=key)


def config_form(cls: type[MethodConfig], key: str, problems: list[str] | None = None,
                auto: dict[str, object] | None = None) -> dict[str, object]:
    """One widget per config field (`config_schema`) with its help text, range and the paper's
    value; returns the values. Out-of-range numbers are reported next to their field and appended
    to `problems`. `auto` (from `unlearn_core.methods.resolved_defaults`) maps the fields resolved at
    run time to what they resolve to: those fields show "auto (value)" instead of their 0 / -1.
    """
    auto = auto or {}
    values: dict[str, object] = {}
    schema = config_schema(cls)
    if not schema:
        st.caption("This method has no parameters.")
    if auto:
        st.caption("Fields reading *auto (…)* are resolved when the run starts; the value shown is what they resolve "
                   "to for this forget set and model. Type a number to override it.")
    cols = st.columns(3)
    for n, spec in enumerate(schema):
        help_text = spec.help + (f" Paper: {spec.paper}." if spec.paper else "")
        widget_key = f"{key}_{spec.name}"
        with cols[n % 3]:
            if spec.choices:
                choices = list(spec.choices)
                resolved = auto.get(spec.name)
                values[spec.name] = st.selectbox(
                    spec.name, choices, index=choices.index(spec.default), help=help_text, key=widget_key,
                    format_func=lambda c, r=resolved: auto_text(r) if c == "auto" and r is not None else str(c))
            elif spec.type is bool:
                values[spec.name] = st.checkbox(spec.name, value=spec.default, help=help_text, key=widget_key)
            elif spec.type in (int, float) and spec.name in auto:
                entered = auto_number(spec.name, auto[spec.name], integer=spec.type is int, key=widget_key,
                                      help=help_text + (f" Auto here: {auto[spec.name]}." if isinstance(
                                          auto[spec.name], str) else ""))
                if entered is None:
                    values[spec.name] = spec.default  # auto: the run resolves it
                else:
                    problem = range_problem(spec.name, entered, spec.min, spec.max)
                    if problem:
                        st.error(problem, icon=":material/error:")
                        if problems is not None:
                            problems.append(problem)
                    values[spec.name] = int(entered) if spec.type is int else float(entered)
            elif spec.type in (int, float):
                values[spec.name] = checked_number(spec.name, spec.default, low=spec.min, high=spec.max,
                                                   integer=spec.type is int, problems=problems, help=help_text,
                                                   key=widget_key)
            elif spec.name in auto:
                values[spec.name] = st.text_input(spec.name, value=str(spec.default), key=widget_key,
                                                  placeholder=auto_text(auto[spec.name]),
                                                  help=f"{help_text} Auto here: {auto[spec.name]}.")
            else:
                values[spec.name] = st.text_input(spec.name, value=str(spec.default), help=help_text, key=widget_key)
    return values
