"""Forget sets by the name a person gave them, not by their spec text.

Runs store the spec (`class:3`, `indices:workspace/...`); pages show the name the user saved it
under, else a short description made from the spec, and put the spec in a tooltip.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from unlearn_core.workspace.store import Entry, Workspace

SCRATCH_DIR = "forget_indices"  # picked / selected indices that were used but not saved under a name
# The one name of a model unlearned elsewhere and uploaded (method id "external"): run titles, tables, reports
EXTERNAL_TITLE = "Unlearned elsewhere (external checkpoint)"  # the phrase Compare and the report also use


def method_titles(*, short: bool = False) -> dict[str, str]:
    """Method id -> the title every page shows (the registry's; `short`: without its parenthesised gloss),
    with the uploaded-checkpoint pseudo-method "external" under `EXTERNAL_TITLE`."""
    from unlearn_core.methods import list_methods
    from unlearn_core.runs.external import METHOD as EXTERNAL

    titles = {m.name: m.title.split(" (")[0] if short else m.title for m in list_methods()}
    titles[EXTERNAL] = EXTERNAL_TITLE
    return titles


def method_title(method: str, *, short: bool = False) -> str:
    """The title of method id `method` (`method_titles`); an unknown id is returned as is."""
    return method_titles(short=short).get(method, method)


def indices_spec(workspace: Workspace, indices: Sequence[int]) -> str:
    """An `indices:` spec for these train indices, in a file named by their content.

    Using the same picks twice gives the same file and spec (so the retrained oracle is reused), and
    nothing is added to the workspace's saved sets: only "Save this forget set" names one.
    """
    idx = np.asarray(sorted(set(int(i) for i in indices)), dtype=np.int64)
    text = "\n".join(map(str, idx.tolist())) + "\n"
    path = Path(workspace.root) / SCRATCH_DIR / f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.txt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return f"indices:{path}"


def saved_names(workspace: Workspace, dataset: str) -> dict[str, str]:
    """spec -> name of every forget set saved for `dataset` (the newest name wins)."""
    names: dict[str, str] = {}
    for entry in reversed(workspace.list("forget_set", dataset=dataset)):  # oldest first, newest overwrites
        names[entry.info["spec"]] = entry.name
        names[f"indices:{entry.file('indices.txt')}"] = entry.name
    return names


def describe_spec(spec: str, class_names: Sequence[str]) -> str:
    """A short description made from a spec when nobody named the set (the spec itself if it is malformed)."""
    try:
        return _describe(spec, class_names)
    except (ValueError, IndexError, OSError):
        return spec


def _describe(spec: str, class_names: Sequence[str]) -> str:
    kind, _, rest = spec.partition(":")
    if kind == "class":
        picked = [class_names[int(c)] for c in rest.split(",")]
        return ("class " if len(picked) == 1 else "classes ") + ", ".join(map(str, picked))
    if kind == "random":
        share, _, classes = rest.partition("@")
        text = f"random {float(share):.0%}"
        return text + (f" of classes {classes.replace(',', ', ')}" if classes else "")
    if kind == "concept":
        attr, _, value = rest.partition("=")
        return f"every {value} ({attr}) sample"
    if kind == "flag":
        return f"the {rest} samples"
    if kind == "indices":
        path = Path(rest)
        n = sum(1 for line in path.read_text().splitlines() if line.strip()) if path.exists() else None
        return f"{n} chosen images" if n is not None else "chosen images"
    return spec


def display_name(spec: str, names: dict[str, str], class_names: Sequence[str]) -> str:
    """The name to show for `spec`: a saved or given name, else a description of the spec."""
    return names.get(spec) or describe_spec(spec, class_names)


def known_names(workspace: Workspace, dataset: str) -> dict[str, str]:
    """spec -> name: the saved sets of `dataset`, then the names this session gave (which win)."""
    from . import state

    return {**saved_names(workspace, dataset), **state.session_forget_names()}


def run_label(entry: Entry, names: dict[str, str], class_names: Sequence[str]) -> str:
    """A stored run as pickers name it: method title, forget-set name, seed and when it was made
    ("DEL forgetting class 3 · seed 0 · 5 Dec 14:02"), never its raw id or method id."""
    info = entry.info
    when = time.strftime("%d %b %H:%M", time.localtime(entry.created)).lstrip("0")
    forget = display_name(str(info.get("forget", "")), names, class_names)
    return f"{method_title(str(info.get('method', '')), short=True)} forgetting {forget} · seed {info.get('seed', '?')} · {when}"
