"""A method's documentation on the Unlearn page: its known limits and its section of docs/methods.md."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import streamlit as st

from unlearn_core.methods import MethodInfo

DOCS = Path(__file__).resolve().parent.parent / "docs" / "methods.md"


@cache
def method_section(name: str, path: Path = DOCS) -> str:
    """The markdown of method `name`'s section in docs/methods.md (from its ``<a id="name">`` anchor
    to the next anchor), or "" when the file or the section is missing."""
    if not path.exists():
        return ""
    text = path.read_text()
    match = re.search(rf'<a id="{re.escape(name)}"></a>\n(.*?)(?=\n<a id="|\Z)', text, flags=re.S)
    return match.group(1).strip() if match else ""


def show_method_notes(info: MethodInfo) -> None:
    """The method's caveats (measured limits of its defaults), then its documentation in an expander."""
    if info.config_cls.caveats:
        st.warning(info.config_cls.caveats, icon=":material/warning:")
    section = method_section(info.name)
    if section:
        with st.expander(f"Documentation: algorithm, defaults and deviations (docs/methods.md#{info.name})"):
            st.markdown(section)
