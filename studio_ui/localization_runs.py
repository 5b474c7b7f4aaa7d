"""The mask DEL actually used on a forget set, for the Localization page (issue 25).

The page compares localizers at one budget; DEL itself resolves its budget per forget set (0.30
for classes and concepts, 0.10 for sample sets: `unlearn_core.methods.deletion.resolved_budget`).
So the page starts at DEL's own settings: those of the newest stored DEL run of this forget set
and original model (its ``resolved`` and ``localization`` artifacts, and its stored mask), else
what DEL would resolve for this forget set now.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from safetensors.torch import load_file

from unlearn_core.forget import ForgetSet
from unlearn_core.methods import resolved_defaults
from unlearn_core.models import ModelMeta
from unlearn_core.workspace.store import Workspace, load_run_artifacts

MASK_FILE = "mask.safetensors"


@dataclass(frozen=True)
class DelSettings:
    """DEL's localizer, granularity and budget on a forget set, and where they come from.

    `run_id` / `masks` are set when a stored DEL run used them (its mask as stored, 0/1 per entry).
    """

    localizer: str
    granularity: str | None  # None: the localizer's default
    budget: float
    source: str  # one sentence: "the DEL run ... used" or "DEL's auto budget for this forget set"
    run_id: str | None = None
    masks: dict[str, torch.Tensor] | None = None


def _artifact(artifacts: Mapping[str, Any], group: str, key: str) -> Any:
    """A value of a run's artifacts, flat ('group/key') or nested ({'group': {'key': ...}})."""
    if f"{group}/{key}" in artifacts:
        return artifacts[f"{group}/{key}"]
    nested = artifacts.get(group)
    return nested.get(key) if isinstance(nested, Mapping) else None


def del_settings(workspace: Workspace, dataset: str, forget: ForgetSet, meta: ModelMeta,
                 model_digest: str) -> DelSettings:
    """The settings of the newest stored DEL run on `forget` from the model with `model_digest`
    (with its mask), else DEL's defaults resolved for `forget` and `meta`."""
    for entry in workspace.list("run", dataset=dataset):
        info = entry.info
        if info.get("method") != "del" or info.get("forget") != forget.spec or info.get("model_digest") != model_digest:
            continue
        artifacts = load_run_artifacts(entry)
        budget = _artifact(artifacts, "resolved", "budget") or _artifact(artifacts, "localization", "budget")
        localizer = _artifact(artifacts, "localization", "localizer")
        if budget is None or localizer is None:
            continue
        path = entry.file(MASK_FILE)
        masks = {k: v.float() for k, v in load_file(str(path)).items()} if path.exists() else None
        return DelSettings(str(localizer), _artifact(artifacts, "localization", "granularity"), float(budget),
                           f"the settings of the newest DEL run on this forget set ({entry.name})", entry.id, masks)
    auto = resolved_defaults("del", forget, meta)
    return DelSettings("del", None, float(auto["budget"]),
                       "DEL's auto budget for this forget set (no DEL run on it yet)")


def mask_jaccard(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> float:
    """Jaccard overlap of two 0/1 masks over the parameters both name: shared / either selects."""
    shared = either = 0
    for name in a.keys() & b.keys():
        x, y = a[name].bool(), b[name].bool()
        shared += int((x & y).sum())
        either += int((x | y).sum())
    return shared / either if either else 1.0


def mask_counts(masks: Mapping[str, torch.Tensor]) -> tuple[int, int]:
    """(selected entries, all entries) of a 0/1 mask."""
    return sum(int(m.sum()) for m in masks.values()), sum(m.numel() for m in masks.values())
