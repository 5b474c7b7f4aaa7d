"""Background runs: one worker process per run, known through the workspace's run records.

A page starts a run with `start_unlearn_run` (the run is recorded, then executed by a worker
process: a standby started ahead by `warm_workers`, which the app's entry calls at the end of every
script run (the standby's imports then never slow the page being drawn), so that even the first click
does not wait for torch's import) and lists runs with
`studio_ui.run_list`. Nothing about a run lives only in the browser session: a reload, a new tab or
a dropped session finds the same runs, with live progress, and can cancel them (the request is
stored in the record; the run polls it).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import streamlit as st

import unlearn_core.runs.records as run_records
from unlearn_core.runs.records import RunRow
from unlearn_core.runs.worker import RunRequest, start_run, warm_pool

from .resources import current_device, current_workspace
from .state import DataRef, ModelRef, data_ref, model_ref


def request_for(spec: str, method: str, config: Any, *, seed: int, data: DataRef | None = None,
                model: ModelRef | None = None) -> RunRequest:
    """The run request for the active (or given) dataset and model: plain values a worker can load."""
    data = data or data_ref()
    model = model or model_ref()
    return RunRequest(
        data.name, spec, method, dict(data.options),
        checkpoint=model.value if model.kind == "file" else None,
        model_entry=model.value if model.kind == "workspace" else None,
        config=config.to_dict() if config is not None else {}, seed=seed, device=str(current_device()),
    )


def external_request(spec: str, unlearned: str, *, seed: int) -> RunRequest:
    """The request that evaluates `unlearned` (a checkpoint unlearned elsewhere from the active model)
    on `spec` against the active model and the retrained oracle, like a method's run."""
    from unlearn_core.runs.external import METHOD

    return dataclasses.replace(request_for(spec, METHOD, None, seed=seed), unlearned=unlearned)


def warm_workers(at_least: int = 0) -> None:
    """Have the standby worker processes started (cheap when they are: it replaces a dead one), so a
    Run click is served by a process that has torch and the library imported already; `at_least` that
    many from now on for a page whose button starts several runs at once (the tour)."""
    try:
        warm_pool(at_least)
    except ValueError:  # a bad $UNLEARN_STANDBY_WORKERS: said in one line when a run is started
        pass


def start_unlearn_run(title: str, request: RunRequest) -> RunRow:
    """Record and start `request` in a worker process; the session remembers it for Compare."""
    row = start_run(current_workspace(), request, title)
    st.session_state.setdefault("my_runs", []).append(row.id)
    return row


def runs(dataset: str | None = None, limit: int = 8) -> list[RunRow]:
    """The workspace's newest runs (interrupted ones already settled)."""
    return run_records.list_runs(current_workspace(), limit=limit, dataset=dataset)


def latest(request: RunRequest) -> RunRow | None:
    """The newest run of exactly this request (e.g. the tour's, found again after a reload)."""
    wanted = request.to_dict()
    return next((r for r in run_records.list_runs(current_workspace(), limit=200, dataset=request.dataset)
                 if r.request == wanted), None)


def cancel(run_id: str) -> None:
    """Ask a run to stop (works for any run of the workspace, from any tab)."""
    try:
        run_records.request_cancel(current_workspace(), run_id)
    except ValueError:  # it ended meanwhile: nothing to cancel
        pass
