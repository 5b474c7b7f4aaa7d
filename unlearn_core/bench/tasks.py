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

from unlearn_core.bench.members import member_figures
from unlearn_core.data import SplitDataset
from unlearn_core.errors import failure_line
from unlearn_core.forget import resolve
from unlearn_core.memory import PeakMemory, track_peak_memory
from unlearn_core.methods import MethodConfig, UnlearnData, get_method
from unlearn_core.metrics import evaluate_model
from unlearn_core.models import ModelMeta, SplitClassifier, load_checkpoint, state_digest
from unlearn_core.progress import Cancelled, ProgressFn, StopFn, never_stop, no_progress
from unlearn_core.runs.one_run import find_run, get_retrained, unlearn_run
from unlearn_core.workspace.fingerprint import data_fingerprint
from unlearn_core.workspace.store import MODEL_FILE, Workspace


@dataclass(frozen=True)
class BenchJob:
    """What every task of a sweep shares: data, original model, forget spec, device, workspace.

    The workspace is a folder path that every task opens itself, so on a Ray cluster it must be
    on a filesystem that every node sees (see `executors`). A benchmark draws each seed's forget
    set with that seed; a seed study (`forget_seed` set) keeps one forget set, drawn with
    `forget_seed`, and varies only the training seed, and with `members` each task also returns
    its model's figures and per-example forget scores (`study.members`), reusing a stored run of
    the same request instead of running it again.
    """

    data: SplitDataset
    model: SplitClassifier
    meta: ModelMeta
    forget_spec: str
    device: torch.device
    workspace_root: str
    forget_seed: int | None = None
    members: bool = False


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


def run_task(
    task: BenchTask, job: BenchJob, oracle: TaskResult | None = None, progress: ProgressFn = no_progress,
    should_stop: StopFn = never_stop,
) -> TaskResult:
    """Run one task of the sweep and return its result; an exception becomes a failed result
    (a cancel, `Cancelled`, is raised: it stops the whole sweep).

    A method task is given its seed's oracle result: when that failed, the method is not run.
    """
    start = time.perf_counter()
    if oracle is not None and not oracle.ok:
        return TaskResult(task, None, f"its retrained oracle (seed {task.seed}) failed", 0.0)
    forget_seed = task.seed if job.forget_seed is None else job.forget_seed
    try:
        workspace = Workspace(job.workspace_root)
        data = UnlearnData(job.data, resolve(job.forget_spec, job.data, forget_seed))
        if task.is_oracle:
            summary = _oracle_task(task, job, data, workspace, forget_seed, progress, should_stop)
        else:
            summary = _method_task(task, job, data, workspace, forget_seed, progress, should_stop)
    except Cancelled:
        raise
    except Exception as err:  # noqa: BLE001 - a failed task is reported; the sweep goes on
        return TaskResult(task, None, failure_line(err, name_refusals=True), time.perf_counter() - start)
    return TaskResult(task, summary, None, time.perf_counter() - start)


def _oracle_task(task: BenchTask, job: BenchJob, data: UnlearnData, workspace: Workspace, forget_seed: int,
                 progress: ProgressFn, should_stop: StopFn) -> dict[str, Any]:
    with track_peak_memory(job.device) as peak:
        oracle = get_retrained(
            job.model, job.meta, data, seed=task.seed, device=job.device, workspace=workspace,
            progress=progress, should_stop=should_stop,
        )
    measured = PeakMemory() if oracle.reused else peak  # loading a stored oracle says nothing of its cost
    summary = {"retrain_time_s": oracle.time_s, "retrain_reused": oracle.reused,
               "retrain_reason": oracle.reason, **measured.to_dict()}
    if job.members:
        summary["member"] = member_figures(evaluate_model(oracle.model, data, device=job.device, seed=forget_seed),
                                           data)
    return summary


def _method_task(task: BenchTask, job: BenchJob, data: UnlearnData, workspace: Workspace, forget_seed: int,
                 progress: ProgressFn, should_stop: StopFn) -> dict[str, Any]:
    config = task.config if task.config is not None else get_method(task.method).config_cls()
    stored = find_run(
        workspace, dataset=job.data.name, method=task.method, forget=job.forget_spec, seed=forget_seed,
        model_digest=state_digest(job.model), config=config.to_dict(), fingerprint=data_fingerprint(job.data),
        train_seed=task.seed,
    ) if job.members else None
    if stored is not None:  # a study member computed before: its model is evaluated again, not retrained
        unlearned, _ = load_checkpoint(stored.file(MODEL_FILE))
        summary = {k: v for k, v in stored.info.items() if k != "details"}
        summary.update(run_id=stored.id, reused=True,
                       member=member_figures(evaluate_model(unlearned, data, device=job.device, seed=forget_seed), data))
        return summary
    record = unlearn_run(
        job.data, job.model, job.meta, job.forget_spec, task.method, config, seed=forget_seed,
        train_seed=task.seed, device=job.device, workspace=workspace, progress=progress, should_stop=should_stop,
    )
    summary = {k: v for k, v in record.summary.items() if k != "details"}
    summary["run_id"] = record.entry.id if record.entry else None
    if job.members:
        summary.update(reused=False, member=member_figures(record.evals["unlearned"], data))
    return summary
