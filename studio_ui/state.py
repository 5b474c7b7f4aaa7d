"""Typed access to the session state every page shares: workspace, device, dataset and model."""

from __future__ import annotations

import os
from dataclasses import dataclass

import streamlit as st

DEFAULT_DATASET = "digits"


@dataclass(frozen=True)
class ModelRef:
    """Where the active model comes from: the shipped default, a workspace entry or a file."""

    kind: str  # "default" | "workspace" | "file"
    value: str = ""

    def label(self) -> str:
        return {"default": "shipped default model", "workspace": f"workspace model {self.value}",
                "file": f"checkpoint {self.value}"}[self.kind]


@dataclass(frozen=True)
class DataRef:
    """A dataset by name with its options (a `root` folder for local datasets)."""

    name: str = DEFAULT_DATASET
    options: tuple[tuple[str, object], ...] = ()


def _get(key: str, default):
    if key not in st.session_state:
        st.session_state[key] = default
    return st.session_state[key]


def workspace_root() -> str:
    """The workspace folder: the sidebar's value, first taken from $UNLEARN_STUDIO_WORKSPACE."""
    return _get("workspace_root", os.environ.get("UNLEARN_STUDIO_WORKSPACE", "workspace"))


def device_choice() -> str:
    return _get("device_choice", "auto")


def data_ref() -> DataRef:
    return _get("data_ref", DataRef())


def set_data_ref(ref: DataRef) -> None:
    if ref != data_ref():
        st.session_state["data_ref"] = ref
        st.session_state["model_ref"] = ModelRef("default")
        st.session_state.pop("forget_selection", None)


def model_ref() -> ModelRef:
    return _get("model_ref", ModelRef("default"))


def set_model_ref(ref: ModelRef) -> None:
    st.session_state["model_ref"] = ref


@dataclass(frozen=True)
class ForgetSelection:
    """The active forget set: its spec text (what runs store) and a human description."""

    spec: str
    description: str


def forget_selection() -> ForgetSelection | None:
    return st.session_state.get("forget_selection")


def set_forget_selection(sel: ForgetSelection | None) -> None:
    """Make `sel` the active forget set and remember its name for this session's tables."""
    st.session_state["forget_selection"] = sel
    if sel is not None:
        st.session_state.setdefault("forget_names", {})[sel.spec] = sel.description


def session_forget_names() -> dict[str, str]:
    """spec -> the name each forget set was given in this session."""
    return dict(st.session_state.get("forget_names", {}))


def open_in_compare(run_id: str) -> None:
    """Open Compare on exactly this run, at the top of the page."""
    remember_run(run_id)
    st.session_state["compare_run"] = run_id  # the run picker's key: Compare shows this run
    st.session_state["compare_scroll_top"] = True
    st.switch_page("app_pages/compare.py")


def remember_run(run_id: str) -> None:
    """Put a finished run first in the list Compare opens with."""
    st.session_state["compare_runs"] = list(dict.fromkeys([run_id, *st.session_state.get("compare_runs", [])]))
