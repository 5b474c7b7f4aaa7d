"""The stored benchmark tables (benchmarks/results.md) as the Benchmarks page shows them.

The Markdown file is written for GitHub: it opens with an HTML comment, its tables are wider than
a page column and its rows name methods by registry id. Here the comment is dropped, each table
becomes a DataFrame (shown in a scrolling frame that fits its column) and each method id reads as
the method's title from the registry, the id and its settings kept after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from unlearn_core.methods import list_methods

NBSP = "\u00a0"
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


@dataclass(frozen=True)
class Block:
    """A piece of the results file: Markdown text, or a table (`table` set, `text` empty)."""

    text: str = ""
    table: pd.DataFrame | None = None


def strip_comments(markdown: str) -> str:
    """`markdown` without its HTML comments (`<!-- ... -->`, over several lines too)."""
    return _COMMENT.sub("", markdown)


def short_titles() -> dict[str, str]:
    """Method id -> its registry title without the parenthesised gloss ("DEL", "RFA"), as tables show it."""
    return {m.name: m.title.split(" (")[0] for m in list_methods()}


def method_title(cell: str, titles: dict[str, str] | None = None) -> str:
    """A table's method cell by the method's title: ``del`` -> "DEL", ``del:localizer=salun,budget=0.3``
    -> "DEL · localizer=salun, budget=0.3"; other cells (the retraining rows) keep their text, without
    Markdown emphasis."""
    titles = titles if titles is not None else short_titles()
    text = cell.strip().strip("_").strip()
    name, _, settings = text.partition(":")
    if name not in titles:
        return text
    return titles[name] + (f" · {settings.replace(',', ', ')}" if settings else "")


def _row(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table(lines: list[str], titles: dict[str, str]) -> pd.DataFrame:
    header, rows = _row(lines[0]), [_row(line) for line in lines[2:]]  # lines[1] is the |---| rule
    frame = pd.DataFrame([r + [""] * (len(header) - len(r)) for r in rows], columns=header)
    frame = frame.apply(lambda col: col.str.replace("`", "", regex=False).str.strip("_")
                        .str.replace(" / ", NBSP + "/" + NBSP, regex=False)  # a figure pair never breaks
                        .str.replace(" ± ", NBSP + "±" + NBSP, regex=False))
    frame.columns = [c.replace("`", "") for c in frame.columns]
    if len(frame.columns) and frame.columns[0] == "method":
        frame["method"] = [method_title(c, titles) for c in frame["method"]]
    return frame


def demote_headings(line: str) -> str | None:
    """The file's title (``# ...``) dropped, as the page has its own; other headings one level smaller."""
    if line.startswith("# "):
        return None
    return "#" + line if line.startswith("##") else line


def results_blocks(markdown: str) -> list[Block]:
    """The results file cut into Markdown text and tables, in order, comments and the file's title
    dropped, headings one level smaller and method ids replaced by titles (`method_title`)."""
    titles = short_titles()
    blocks: list[Block] = []
    text: list[str] = []
    table: list[str] = []
    for raw in strip_comments(markdown).splitlines():
        line = demote_headings(raw)
        if line is None:
            continue
        if line.lstrip().startswith("|"):
            table.append(line)
            continue
        if table:
            blocks.append(Block(table=_table(table, titles)))
            table = []
        text.append(line)
        if not line.strip() and any(t.strip() for t in text):
            blocks.append(Block(text="\n".join(text).strip()))
            text = []
    if table:
        blocks.append(Block(table=_table(table, titles)))
    if any(t.strip() for t in text):
        blocks.append(Block(text="\n".join(text).strip()))
    return _merge_text(blocks)


def _merge_text(blocks: list[Block]) -> list[Block]:
    """Neighbouring text blocks joined into one (fewer Streamlit elements, same reading)."""
    merged: list[Block] = []
    for block in blocks:
        if block.table is None and merged and merged[-1].table is None:
            merged[-1] = Block(text=merged[-1].text + "\n\n" + block.text)
        else:
            merged.append(block)
    return merged
