"""Unlearning Studio's library: data, models, forget sets, unlearning methods, runs against
retraining, seed studies and inspection. Usable without Streamlit; the app and the CLI
(``unlearn``, or ``python -m unlearn_core``) are thin layers over it.

The public API, importable from here (each name loads its module on first use, so
``import unlearn_core`` stays instant)::

    import unlearn_core as uc

    data = uc.load_dataset("digits")                                # or uc.list_datasets()
    device = uc.pick_device("auto")                                 # cuda, then mps, then cpu
    workspace = uc.Workspace("workspace")                           # where models and runs are kept
    model, meta = uc.obtain_model(data, device=device, workspace=workspace)   # or uc.load_checkpoint(path)
    run = uc.unlearn_run(data, model, meta, "class:3", "del", device=device, workspace=workspace)
    print(run.summary["avg_gap"])                                   # against the retrained model

Also: `resolve` (a forget spec into a forget set), `list_methods` / `get_method` /
`config_from_strings` (the method registry), `evaluate_model`, `save_checkpoint`, `run_study`
(a method judged against retraining's seed-to-seed spread) and `load_run` / `inspect_run` (CKA,
prediction matrices, membership, probe, relearn of a stored run).

Sub-packages, lowest layer first (docs/architecture.md): foundations (`registry`, `progress`,
`device`, `serialize`, `errors`, `options`, `sampling`, `memory`); `data`, `models`, `train`,
`recipes`, `forget`, `lora`, `embed`, `metrics`; `localize`, `concepts`, `methods`; `workspace`;
`runs`; `bench`; `study`; `inspect`; `cli`.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> the module that defines it
_API: dict[str, str] = {
    "load_dataset": "unlearn_core.data",
    "list_datasets": "unlearn_core.data",
    "pick_device": "unlearn_core.device",
    "load_checkpoint": "unlearn_core.models",
    "save_checkpoint": "unlearn_core.models",
    "resolve": "unlearn_core.forget",
    "list_methods": "unlearn_core.methods",
    "get_method": "unlearn_core.methods",
    "config_from_strings": "unlearn_core.methods",
    "evaluate_model": "unlearn_core.metrics",
    "Workspace": "unlearn_core.workspace.store",
    "obtain_model": "unlearn_core.runs.start_model",
    "unlearn_run": "unlearn_core.runs.one_run",
    "run_study": "unlearn_core.study.seed_study",
    "load_run": "unlearn_core.inspect",
    "inspect_run": "unlearn_core.inspect",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    """Load a public name's module on first use (PEP 562), so importing the package costs nothing."""
    if name not in _API:
        raise AttributeError(f"module 'unlearn_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
