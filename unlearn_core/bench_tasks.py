"""The tasks of a benchmark sweep and the one function that runs a task, wherever it runs.

A sweep is one retrained oracle per seed and one run per (method, seed); a method's run depends
on its seed's oracle. `run_task` is what the local executor calls in-process and what a Ray
worker calls remotely, so both store exactly the same things in the workspace: the oracle under
its cache key, each run through `unlearn_run` (which finds that oracle and does not retrain it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from .data import SplitDataset
from .forget import resolve
from .memory import PeakMemory, track_peak_memory
from .methods import MethodConfig, UnlearnData
from .models import ModelMeta, SplitClassifier
from .progress import ProgressFn, no_progress
from .runs import get_retrained, unlearn_run
from .store import Workspace


@dataclass(frozen=True)
class BenchJob:
    """What every task of a sweep shares: data, original model, forget spec, device, workspace.

    The workspace is a folder path that every task opens itself, so on a Ray cluster it must be
    on a filesystem that every node sees (see `executors`).
    """

    data: SplitDataset
    model: SplitClassifier
    meta: ModelMeta
    forget_spec: str
    device: torch.device
    workspace_root: str


@dataclass(frozen=True)
class BenchTask:
    """One retrained oracle (``method`` None) or one method run, for one seed."""

    seed: int
    label: str | None = None  # the table row (a method or a variant such as ``del:localizer=random``)
    method: str | None = None
    config: MethodConfig | None = None

    @property
    def is_oracle(self) -> bool:
        return self.method is None

    def describe(self) -> str:
        return f"{'retrain oracle' if self.is_oracle else self.label} seed {self.seed}"


@dataclass(frozen=True)
class TaskResult:
    """A finished task: the run summary (without its per-sample details) or, for an oracle,
    ``{"retrain_time_s", "retrain_reused", "peak_rss_mb", "cuda_max_allocated_mb"}``;
    or the one-line error that stopped it. `wall_s` includes loading and evaluation."""

    task: BenchTask
    summary: dict[str, Any] | None
    error: str | None
    wall_s: float

    @property
    def ok(self) -> bool:
        return self.error is None


def one_line(err: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def run_task(
    task: BenchTask, job: BenchJob, oracle: TaskResult | None = None, progress: ProgressFn = no_progress
) -> TaskResult:
    """Run one task of the sweep and return its result; an exception becomes a failed result.

    A method task is given its seed's oracle result: when that failed, the method is not run.
    """
    start = time.perf_counter()
    if oracle is not None and not oracle.ok:
        return TaskResult(task, None, f"its retrained oracle (seed {task.seed}) failed", 0.0)
    try:
        workspace = Workspace(job.workspace_root)
        if task.is_oracle:
            data = UnlearnData(job.data, resolve(job.forget_spec, job.data, task.seed))
            with track_peak_memory(job.device) as peak:
                oracle = get_retrained(
                    job.model, job.meta, data, seed=task.seed, device=job.device, workspace=workspace,
                    progress=progress,
                )
            measured = PeakMemory() if oracle.reused else peak  # loading a stored oracle says nothing of its cost
            summary = {"retrain_time_s": oracle.time_s, "retrain_reused": oracle.reused,
                       "retrain_reason": oracle.reason, **measured.to_dict()}
        else:
            record = unlearn_run(
                job.data, job.model, job.meta, job.forget_spec, task.method, task.config, seed=task.seed,
                device=job.device, workspace=workspace, progress=progress,
            )
            summary = {k: v for k, v in record.summary.items() if k != "details"}
            summary["run_id"] = record.entry.id if record.entry else None
    except Exception as err:  # noqa: BLE001 - a failed task is reported; the sweep goes on
        return TaskResult(task, None, one_line(err), time.perf_counter() - start)
    return TaskResult(task, summary, None, time.perf_counter() - start)
