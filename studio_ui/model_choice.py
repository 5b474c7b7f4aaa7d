"""Which stored models a person means to unlearn from (issue 25).

The workspace also stores every retrained oracle (a model trained without a forget set, kept as
the reference of later runs). Picked as the model to unlearn from, it has nothing to forget, so the
Model & data page lists it after the trained models, names it for what it is and warns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from unlearn_core.workspace.store import Entry


def retrained_without(info: Mapping[str, Any]) -> str | None:
    """The forget spec a stored model was retrained without (a retrained oracle), else None."""
    if info.get("forget"):
        return str(info["forget"])
    note = str(info.get("meta", {}).get("note", ""))
    return note.removeprefix("retrained without ").strip() or None if note.startswith("retrained without") else None


def ordered_models(entries: Sequence[Entry]) -> list[Entry]:
    """Trained models first (newest first), then the retrained oracles: the default pick is never an oracle."""
    return sorted(entries, key=lambda e: retrained_without(e.info) is not None)  # stable: keeps newest first


def model_label(entry: Entry) -> str:
    """How the stored-model picker names `entry`: its name, and for an oracle what it is."""
    spec = retrained_without(entry.info)
    return f"{entry.name} · retrained reference (without {spec})" if spec else entry.name


def oracle_warning(entry: Entry) -> str | None:
    """The warning shown when `entry`, a retrained oracle, becomes the model to unlearn from, else None."""
    spec = retrained_without(entry.info)
    if spec is None:
        return None
    return (f"This is a retrained reference model: it was trained without `{spec}`, so there is nothing of that set "
            "left in it to forget, and runs on it compare a retrained model with its own retraining. To unlearn, "
            "pick the model trained on all the data (the shipped default or one you trained).")
