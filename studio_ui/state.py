"""Typed access to the session state every page shares: workspace, device, dataset and model."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from studio_ui.navigation import page_file

DEFAULT_DATASET = "digits"
SELECTION_FILE = "studio_selection.json"  # the last dataset, model and forget set, restored after a reload


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
    """The active dataset (after a reload: the one last chosen in this workspace)."""
    _restore_selection()
    return _get("data_ref", DataRef())


def set_data_ref(ref: DataRef) -> None:
    """Make `ref` the active dataset; a new dataset starts from its default model and no forget set."""
    if ref != data_ref():
        st.session_state["data_ref"] = ref
        st.session_state["model_ref"] = ModelRef("default")
        st.session_state.pop("forget_selection", None)
        _save_selection()


def model_ref() -> ModelRef:
    """The active model (after a reload: the one last chosen in this workspace)."""
    _restore_selection()
    return _get("model_ref", ModelRef("default"))


def set_model_ref(ref: ModelRef) -> None:
    """Make `ref` the active model (remembered in the workspace when it changes)."""
    if ref != model_ref():
        st.session_state["model_ref"] = ref
        _save_selection()


def save_selection(root: str | Path, data: DataRef, model: ModelRef, forget: ForgetSelection | None) -> None:
    """Write the selection to `root`/SELECTION_FILE (atomically; nothing written when `root` does not exist)."""
    folder = Path(root)
    if not folder.is_dir():
        return
    payload = {"data": {"name": data.name, "options": [list(kv) for kv in data.options]},
               "model": {"kind": model.kind, "value": model.value},
               "forget": None if forget is None else {"spec": forget.spec, "description": forget.description}}
    tmp = folder / f".{SELECTION_FILE}.tmp"
    try:
        tmp.write_text(json.dumps(payload))
        tmp.replace(folder / SELECTION_FILE)
    except OSError:  # a read-only workspace: the selection is simply not remembered
        pass


def load_selection(root: str | Path) -> dict[str, Any]:
    """The selection saved in `root` as session-state values (data_ref, model_ref, forget_selection);
    empty when none is saved or the file is unreadable."""
    try:
        raw = json.loads((Path(root) / SELECTION_FILE).read_text())
        out: dict[str, Any] = {
            "data_ref": DataRef(str(raw["data"]["name"]), tuple((str(k), v) for k, v in raw["data"]["options"])),
            "model_ref": ModelRef(str(raw["model"]["kind"]), str(raw["model"]["value"])),
        }
        if out["model_ref"].kind not in ("default", "workspace", "file"):
            return {}
        if raw.get("forget"):
            out["forget_selection"] = ForgetSelection(str(raw["forget"]["spec"]), str(raw["forget"]["description"]))
        return out
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def clear_saved_selection(root: str | Path) -> None:
    """Forget the selection saved in `root` (the error boundary's "Back to the defaults"), so a
    selection that broke a page does not come back after a reload."""
    try:
        (Path(root) / SELECTION_FILE).unlink(missing_ok=True)
    except OSError:
        pass


def _restore_selection() -> None:
    """Once per session and workspace: the last selection saved there fills what the session lacks."""
    root = workspace_root()
    if st.session_state.get("_selection_restored") == root:
        return
    st.session_state["_selection_restored"] = root
    for key, value in load_selection(root).items():
        st.session_state.setdefault(key, value)


def _save_selection() -> None:
    save_selection(workspace_root(), data_ref(), model_ref(), st.session_state.get("forget_selection"))


@dataclass(frozen=True)
class ForgetSelection:
    """The active forget set: its spec text (what runs store) and a human description."""

    spec: str
    description: str


def forget_selection() -> ForgetSelection | None:
    """The active forget set (after a reload: the one last chosen in this workspace), or None."""
    _restore_selection()
    return st.session_state.get("forget_selection")


def set_forget_selection(sel: ForgetSelection | None) -> None:
    """Make `sel` the active forget set and remember its name for this session's tables."""
    changed = sel != forget_selection()
    st.session_state["forget_selection"] = sel
    if sel is not None:
        st.session_state.setdefault("forget_names", {})[sel.spec] = sel.description
    if changed:
        _save_selection()


def session_forget_names() -> dict[str, str]:
    """spec -> the name each forget set was given in this session."""
    return dict(st.session_state.get("forget_names", {}))


def open_in_compare(run_id: str) -> None:
    """Open Compare on exactly this run, at the top of the page."""
    remember_run(run_id)
    st.session_state["compare_run"] = run_id  # the run picker's key: Compare shows this run
    st.session_state["compare_scroll_top"] = True
    st.switch_page(page_file("compare"))


def remember_run(run_id: str) -> None:
    """Put a finished run first in the list Compare opens with."""
    st.session_state["compare_runs"] = list(dict.fromkeys([run_id, *st.session_state.get("compare_runs", [])]))
