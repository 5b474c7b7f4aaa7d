"""Failure paths of a run: cancellation part-way through stores nothing; a GPU out-of-memory error
gives the CLI's documented exit status (3) and the app's message, never a traceback."""

from __future__ import annotations

import dataclasses
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
import torch

import unlearn_core.runs.one_run as runs
from unlearn_core import cli
from unlearn_core.forget import resolve
from unlearn_core.methods import UnlearnData
from unlearn_core.methods.finetune import FinetuneConfig
from unlearn_core.progress import Cancelled
from unlearn_core.workspace.store import Workspace

OOM_CLI = "error: the GPU ran out of memory; use a smaller batch size or --device cpu"
OOM_UI = "the GPU ran out of memory: choose the CPU or a smaller batch size"


class StopAt:
    """A `should_stop` that answers True from its `at`-th call on (None: never); counts its calls."""

    def __init__(self, at: int | None) -> None:
        self.at, self.calls = at, 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.at is not None and self.calls >= self.at


def _rows(ws: Workspace) -> list[tuple[str, str]]:
    """Every registry row, whatever its status (pending rows would be leftovers of an interrupted write)."""
    with closing(sqlite3.connect(ws.root / "registry.sqlite")) as db:
        return list(db.execute("SELECT kind, status FROM entries"))


def _files(ws: Workspace) -> list[Path]:
    """Stored files: not the registry, not the per-key lock files (empty, reused by the next run)."""
    return sorted(p for p in ws.root.rglob("*") if p.is_file() and p.name != "registry.sqlite"
                  and p.parent.name != "locks")


@pytest.fixture(scope="module")
def short_meta(shipped_digits):
    """The shipped digits model's provenance with a 1-epoch recipe: the retrained oracle takes a second."""
    _, meta = shipped_digits
    return dataclasses.replace(meta, recipe={**meta.recipe, "epochs": 1})


@pytest.fixture(scope="module")
def stop_counts(digits, shipped_digits, short_meta, cpu) -> tuple[int, int]:
    """How many cancellation checks (retrain oracle, method) a finetune run makes, counted once."""
    model, _ = shipped_digits
    counter = StopAt(None)
    data = UnlearnData(digits, resolve("class:3", digits, 0))
    runs.get_retrained(model, short_meta, data, seed=0, device=cpu, workspace=None, should_stop=counter)
    n_retrain = counter.calls
    runs.unlearn_run(digits, model, short_meta, "class:3", "finetune", FinetuneConfig(epochs=2), device=cpu,
                     should_stop=counter)
    return n_retrain, counter.calls - 2 * n_retrain


def test_cancel_midway_through_the_retrained_oracle_stores_nothing(tmp_path, digits, shipped_digits, short_meta,
                                                                    cpu, stop_counts):
    n_retrain, n_method = stop_counts
    assert n_retrain > 4  # the oracle checks for cancellation inside its loop, not only at the start
    ws = Workspace(tmp_path / "ws")
    stop = StopAt(n_method + n_retrain // 2)  # the method runs first, then the oracle is trained: stop mid-way in it
    with pytest.raises(Cancelled):
        runs.unlearn_run(digits, shipped_digits[0], short_meta, "class:3", "finetune", FinetuneConfig(epochs=2),
                         device=cpu, workspace=ws, should_stop=stop)
    assert stop.calls == n_method + n_retrain // 2  # it stopped at the first True, mid-way through the oracle
    assert _rows(ws) == [] and _files(ws) == []


def test_cancel_midway_through_the_method_stores_no_run(tmp_path, digits, shipped_digits, short_meta, cpu,
                                                        stop_counts):
    n_retrain, n_method = stop_counts
    assert n_method > 4
    ws = Workspace(tmp_path / "ws")
    stop = StopAt(n_method // 2)  # mid-way into finetuning, which runs before the oracle is fetched
    with pytest.raises(Cancelled):
        runs.unlearn_run(digits, shipped_digits[0], short_meta, "class:3", "finetune", FinetuneConfig(epochs=2),
                         device=cpu, workspace=ws, should_stop=stop)
    assert stop.calls == n_method // 2
    assert _rows(ws) == [] and _files(ws) == []  # no run, and no oracle started


def _oom(*_args, **_kwargs):
    raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_out_of_memory_in_the_cli_exits_3_with_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(runs, "run_method", _oom)  # the first training step of the run runs out of memory
    status = cli.main(["unlearn", "--dataset", "digits", "--forget", "class:3", "--method", "finetune",
                       "--workspace", str(tmp_path / "ws"), "--device", "cpu", "--quiet", "--json"])
    err = capsys.readouterr().err
    assert status == 3
    assert err.strip().splitlines() == [OOM_CLI]
    assert Workspace(tmp_path / "ws").list("run") == []


def test_out_of_memory_in_the_app_shows_the_message(monkeypatch, tmp_path):
    """A recorded run (what the app's worker process executes) ends failed with the page's one line."""
    import unlearn_core.runs.records as run_records
    from unlearn_core.runs.worker import RunRequest, run_tracked

    monkeypatch.setattr(runs, "run_method", _oom)
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(torch.cuda.OutOfMemoryError):
        run_tracked(ws, RunRequest("digits", "class:3", "finetune", device="cpu"), "oom")
    (row,) = run_records.list_runs(ws)
    assert (row.status, row.error) == ("failed", OOM_UI)
    assert ws.list("run") == []
