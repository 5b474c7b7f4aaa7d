"""Where a benchmark sweep's tasks run: in this process one after the other (`LocalExecutor`),
or as Ray tasks on a local Ray instance or an existing cluster (`RayExecutor`).

Both run the same `bench_tasks.run_task`, oracles first: a method's task depends on its seed's
oracle. Results are stored by the tasks themselves in the shared workspace folder (SQLite
registry plus atomically renamed folders, safe across processes), so a Ray sweep stores exactly
what a serial one does, through the same `unlearn_run`, and no model travels back to the driver.
On a multi-node cluster the workspace must therefore be a path every node sees (a shared
filesystem with working file locks); on one machine (the local instance) that is automatic.

Ray is optional (the ``ray`` extra: ``pip install "unlearning-studio[ray]"``); it is imported only when used.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from unlearn_core.bench.tasks import BenchJob, BenchTask, TaskResult, run_task
from unlearn_core.errors import failure_line
from unlearn_core.progress import ProgressFn, StopFn, never_stop, no_progress

OnDone = Callable[[TaskResult], None]
RAY_INSTALL = "pip install \"unlearning-studio[ray]\" (or bash scripts/install.sh --with-ray)"


class Executor(Protocol):
    """Runs a sweep's tasks (oracles before the methods that depend on them)."""

    name: str

    def run(self, tasks: list[BenchTask], job: BenchJob, on_done: OnDone) -> list[TaskResult]:
        """Run every task, call `on_done` as each finishes, and return the results in task order."""
        ...


@dataclass
class LocalExecutor:
    """In this process, one task after the other; `progress` gets each task's inner progress and
    `should_stop` can cancel the sweep (`Cancelled` is raised from the running task)."""

    progress: ProgressFn = no_progress
    name: str = "local"
    should_stop: StopFn = never_stop

    def run(self, tasks: list[BenchTask], job: BenchJob, on_done: OnDone) -> list[TaskResult]:
        oracles: dict[int, TaskResult] = {}
        results: dict[int, TaskResult] = {}
        for i in oracles_first(tasks):
            task = tasks[i]
            # a method task waits on its seed's oracle, where the sweep has one (a study of `retrain`
            # runs the method at seeds of its own)
            oracle = None if task.is_oracle else oracles.get(task.seed)
            result = run_task(task, job, oracle, self.progress, self.should_stop)
            if task.is_oracle:
                oracles[task.seed] = result
            results[i] = result
            on_done(result)
        return [results[i] for i in range(len(tasks))]


def oracles_first(tasks: list[BenchTask]) -> list[int]:
    """Positions of `tasks` in the order they are submitted: every oracle before any method."""
    return sorted(range(len(tasks)), key=lambda i: not tasks[i].is_oracle)


def _ray_task(task: BenchTask, job: BenchJob, oracle: TaskResult | None, cpus: int) -> TaskResult:
    """The body of a Ray task: torch uses exactly the CPUs the task asked for."""
    torch.set_num_threads(cpus)
    return run_task(task, job, oracle)


def import_ray():
    """The ray module, or a ValueError whose one line says how to install it."""
    try:
        import ray
    except ImportError:
        raise ValueError(f"--executor ray needs Ray, which is not installed: {RAY_INSTALL}") from None
    return ray


@dataclass
class RayExecutor:
    """Each task a Ray task asking for `task_cpus` CPUs (and 1 GPU when the device is cuda).

    With no `address` a local Ray instance with `num_cpus` CPUs (default: this machine's) is
    started for the sweep and stopped after it; with one, the sweep runs on that cluster, whose
    workers must be able to import `unlearn_core` and see the workspace path.
    """

    address: str | None = None
    num_cpus: int | None = None
    task_cpus: int = 1
    name: str = "ray"

    def __post_init__(self) -> None:
        self.ray = import_ray()
        if self.task_cpus < 1:
            raise ValueError(f"--task-cpus must be at least 1; got {self.task_cpus}")
        if self.num_cpus is not None and self.num_cpus < self.task_cpus:
            raise ValueError(f"--ray-cpus ({self.num_cpus}) must be at least --task-cpus ({self.task_cpus})")

    def _start(self) -> bool:
        """Connect to (or start) Ray; True when this call started it, so it stops it too."""
        ray = self.ray
        if ray.is_initialized():
            return False
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # never phone home
        quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
        try:
            self._init(quiet)
        except Exception as err:  # noqa: BLE001 - Ray raises bare Exceptions for a failed start
            self.ray.shutdown()  # whatever part of it did start
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
            raise ValueError(f"could not start or reach {where}: {failure_line(err)}") from None
        return True

    def _init(self, quiet: dict[str, object]) -> None:
        ray = self.ray
        if self.address:
            ray.init(address=self.address, **quiet)
        else:
            # Workers import the installed package; torch gets one thread until the task sets its own count.
            env = {"OMP_NUM_THREADS": str(self.task_cpus)}
            ray.init(
                num_cpus=self.num_cpus or os.cpu_count() or 1, runtime_env={"env_vars": env},
                # Ray's agents start slowly on a loaded machine; its default wait killed the start there.
                _system_config={"agent_register_timeout_ms": 120_000}, **quiet,
            )

    def run(self, tasks: list[BenchTask], job: BenchJob, on_done: OnDone) -> list[TaskResult]:
        ray = self.ray
        started = self._start()
        try:
            gpus = 1 if job.device.type == "cuda" else 0
            remote = ray.remote(_ray_task).options(num_cpus=self.task_cpus, num_gpus=gpus, max_retries=0)
            job_ref = ray.put(job)
            position: dict[object, int] = {}
            oracle_refs = {}
            for i in oracles_first(tasks):
                task = tasks[i]
                # A method's task takes its oracle's ObjectRef: Ray starts it when the oracle is done.
                ref = remote.remote(task, job_ref, None if task.is_oracle else oracle_refs.get(task.seed), self.task_cpus)
                if task.is_oracle:
                    oracle_refs[task.seed] = ref
                position[ref] = i
            results: dict[int, TaskResult] = {}
            pending = list(position)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                i = position[done[0]]
                try:
                    result = ray.get(done[0])
                except Exception as err:  # noqa: BLE001 - a crashed worker fails its task only
                    result = TaskResult(tasks[i], None, _ray_error(err), 0.0)
                results[i] = result
                on_done(result)
            return [results[i] for i in range(len(tasks))]
        finally:
            if started:
                ray.shutdown()


def _ray_error(err: Exception) -> str:
    """A Ray failure (worker crash, killed for memory, unreachable node) as one line."""
    cause = getattr(err, "cause", None)
    return failure_line(cause if isinstance(cause, BaseException) else err, name_refusals=True)


def make_executor(
    name: str, *, address: str | None = None, ray_cpus: int | None = None, task_cpus: int = 1,
    progress: ProgressFn = no_progress,
) -> Executor:
    """The executor called `name` ("local" or "ray"); raises ValueError for anything else."""
    if name == "local":
        if address or ray_cpus:
            raise ValueError("--address and --ray-cpus need --executor ray")
        return LocalExecutor(progress)
    if name == "ray":
        return RayExecutor(address, ray_cpus, task_cpus)
    raise ValueError(f"unknown executor {name!r}: use local or ray")
