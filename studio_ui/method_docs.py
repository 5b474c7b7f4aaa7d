"""A method's documentation on the Unlearn page: its known limits, the stored figures behind them,
and its section of docs/methods.md."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import streamlit as st

from unlearn_core.methods import MethodInfo

from .labels import format_value
from .shipped_files import METHOD_DOCS, benchmark_file


@cache
def method_section(name: str, path: Path = METHOD_DOCS) -> str:
    """The markdown of method `name`'s section in docs/methods.md (from its ``<a id="name">`` anchor
    to the next anchor), or "" when the file or the section is missing."""
    if not path.exists():
        return ""
    text = path.read_text()
    match = re.search(rf'<a id="{re.escape(name)}"></a>\n(.*?)(?=\n<a id="|\Z)', text, flags=re.S)
    return match.group(1).strip() if match else ""


@cache
def _stored_table(path: Path, mtime_ns: int) -> tuple[dict, float | None]:
    """A stored benchmark table and its noise floor, read once per version of the file (the Unlearn
    page reruns on every click; `mtime_ns` makes a rewritten table read again)."""
    from unlearn_core.bench.sweep import retrain_floor

    table = json.loads(path.read_text())
    return table, retrain_floor(table.get("runs", []))


def measured_figures(method: str, stems: tuple[str, ...], folder: Path | None = None) -> list[str]:
    """One line per stored benchmark table in `stems` that holds `method`: its average gap to
    retraining beside retraining's own (the noise floor), and its forget accuracy and MIA-efficacy
    beside retraining's; read from the table's JSON (benchmarks/results/), never typed in."""
    lines = []
    for stem in stems:
        path = (folder / f"{stem}.json") if folder else benchmark_file(stem)
        try:
            table, floor = _stored_table(path, path.stat().st_mtime_ns)
            row, ref = table["methods"][method], table["retrain"]
        except (OSError, ValueError, KeyError):
            continue
        gap = row["avg_gap"]
        lines.append(
            f"{table['dataset']} `{table['forget']}` ({table['seeds']} seeds, {table['date']}): average gap "
            f"{format_value('avg_gap', gap['mean'])} ± {format_value('avg_gap', gap['std'])} points"
            + (f" (retraining vs retraining: {format_value('avg_gap', floor)})" if floor is not None else "")
            + f"; forget accuracy {format_value('forget_acc', row['forget_acc']['mean'])} against retraining's "
            f"{format_value('forget_acc', ref['forget_acc']['mean'])}; MIA-efficacy "
            f"{format_value('mia_efficacy', row['mia_efficacy']['mean'])} against "
            f"{format_value('mia_efficacy', ref['mia_efficacy']['mean'])}"
        )
    return lines


def show_method_notes(info: MethodInfo) -> None:
    """The method's caveat, with the stored figures behind it, then its documentation in an expander."""
    cls = info.config_cls
    if cls.caveats:
        figures = measured_figures(info.name, cls.caveat_results)
        measured = ("\n\nMeasured (benchmarks/results.md):\n" + "\n".join(f"- {line}" for line in figures)
                    if figures else "")
        st.warning(cls.caveats + measured, icon=":material/warning:")
    section = method_section(info.name)
    if section:
        with st.expander(f"Documentation: algorithm, defaults and deviations (docs/methods.md#{info.name})"):
            st.markdown(section)
