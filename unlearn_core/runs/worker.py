"""Executing tracked runs: a worker process per run, or the calling process, writing a run record.

`start_run` records a queued run and hands it to a worker process, so that training shares neither
the GIL nor the lifetime of the Streamlit server: a page rerun, a reload, another tab or a crashed
page cannot touch it (a subprocess rather than multiprocessing's spawn, which would re-import the
server's ``__main__``). The worker is a standby of this process's `runs.pool.StandbyPool`, started
before the click with torch and the library imported (``python -m unlearn_core worker --standby``,
`serve_standby`; one still importing is handed the run too and starts it when done); where none
can take it (the pool is turned off, its standby died or was started with other settings) a fresh
``python -m unlearn_core worker ID`` is spawned, seconds slower. `warm_pool` starts the standbys (the app calls it when it opens) and `start_run` tops the
pool up after each hand-over. `execute` is a worker's body and `run_tracked`
runs the same thing in the calling process (the CLI's ``unlearn``): the run record gets progress,
phase and a heartbeat every `run_records.HEARTBEAT_S`; the cancel flag in the record is polled by
the run's `should_stop`; a run that ignores a cancel for `CANCEL_GRACE_S` is terminated. A failure
leaves a one-line reason in the record and the trace in the run's log file in the workspace.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import unlearn_core.runs.records as run_records
from unlearn_core.data import SplitDataset
from unlearn_core.errors import failure_line
from unlearn_core.fs_policy import check_free_space, check_id
from unlearn_core.progress import Cancelled, ProgressEvent, ProgressFn, no_progress
from unlearn_core.runs.pool import (
    READY,
    StandbyPool,
    hand_over_line,
    pool_size,
    read_hand_over,
    reap,
    wait_until_ended,
)
from unlearn_core.workspace.store import Workspace, new_id

CANCEL_GRACE_S = 10.0
RUN_COPIES = 3  # a run stores the unlearned model, the retrained oracle and a mask / artifacts
PROGRESS_WRITE_S = 0.5  # at most two progress writes a second: each is a SQLite transaction


def worker_threads() -> int:
    """Torch threads of a worker process: $UNLEARN_WORKER_THREADS, else half the cores (at least 1).

    Measured on a 2-core machine under a load of ~10: a 6 s retrain took 290 s when every process
    used all cores. Half the cores leaves the other half to the server and a second run, and
    small models gain little from more intra-op threads anyway.
    """
    return max(1, int(os.environ.get("UNLEARN_WORKER_THREADS") or (os.cpu_count() or 2) // 2))


@dataclass(frozen=True)
class RunRequest:
    """Everything needed to execute a run, as plain JSON (it travels to the worker in the record).

    The model is `checkpoint` (a file), else `model_entry` (a workspace model id), else the
    dataset's shipped default or `model` (an architecture trained with the recipe, cached).
    `config` holds the method's parameters by name. Method ``external`` runs no method: it
    evaluates `unlearned`, a checkpoint unlearned by other code from that model
    (`external.evaluate_external`). With `study_k` the request is a seed study of the method
    (`study.seed_study.run_study`, K = `study_k`) instead of one run.
    """

    dataset: str
    forget: str
    method: str
    dataset_options: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    checkpoint: str | None = None
    model_entry: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    device: str = "auto"
    unlearned: str | None = None
    study_k: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunRequest:
        return cls(**{k: v for k, v in raw.items() if k in cls.__dataclass_fields__})

    def check(self) -> None:
        """Refuse at once what needs no data: an unknown method, bad parameters, a bad device."""
        from unlearn_core.device import pick_device
        from unlearn_core.methods import get_method
        from unlearn_core.runs.external import METHOD as EXTERNAL

        check_seed(self.seed)
        if self.method == EXTERNAL:
            if not self.unlearned or not Path(self.unlearned).is_file():
                raise ValueError(f"the unlearned checkpoint {self.unlearned or '(none given)'} is not a file")
        else:
            get_method(self.method).config_cls(**self.config)
        pick_device(self.device)


SEED_MAX = 2**32 - 1  # numpy's generators take seeds in 0..2**32-1


def check_seed(seed: object, name: str = "seed") -> int:
    """`seed` if it is an integer in 0..`SEED_MAX`, else a ValueError naming `name` (checked before
    the work: numpy refuses -1 and torch 2**70 only deep inside a run, after the training)."""
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= SEED_MAX:
        raise ValueError(f"{name} must be an integer from 0 to {SEED_MAX} (2**32 - 1); got {seed!r}")
    return seed


WORKER = [sys.executable, "-m", "unlearn_core", "worker"]  # the package is installed: no path needed
_POOL = StandbyPool([*WORKER, "--standby"])  # this process's standby workers (the Streamlit server's)


def _worker_env() -> dict[str, str]:
    """The environment of a worker started now: this one, with the thread budget set before torch's import."""
    threads = str(worker_threads())
    return {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}


def warm_pool(at_least: int = 0) -> None:
    """Have `runs.pool.pool_size()` standby workers started (none if $UNLEARN_STANDBY_WORKERS is 0), or
    `at_least` that many from now on (a page that starts several runs at once), so that the next
    `start_run` is served without a fresh interpreter's imports. Cheap when they are."""
    _POOL.warm(_worker_env(), at_least)


def standby_pids() -> list[int]:
    """The process ids of this process's standby workers (the next run goes to one of them)."""
    return _POOL.pids()


def close_pool() -> None:
    """End this process's standby workers (a run already handed over is not touched)."""
    _POOL.close()


def wait_pool_ready(timeout: float) -> bool:
    """Wait up to `timeout` seconds until the standby workers have imported everything; whether they have."""
    return _POOL.wait_ready(timeout)


def start_run(workspace: Workspace, request: RunRequest, title: str) -> run_records.RunRow:
    """Record `request` as a queued run and hand it to a standby worker (else a fresh worker process),
    then top the pool of standbys up again; returns the run's record."""
    request.check()
    pool_size()  # a bad $UNLEARN_STANDBY_WORKERS is refused before the run is recorded
    run_id = new_id()
    run_records.create(workspace, run_id, title, request.to_dict())
    log = run_records.log_path(workspace, run_id)
    log.parent.mkdir(parents=True, exist_ok=True)
    root = workspace.root.resolve()
    env = _worker_env()
    standby = _POOL.take(env)
    if standby is not None and standby.hand_over(hand_over_line(run_id, root)):
        proc = standby.proc  # it writes its own output to the run's log
    else:
        if standby is not None:  # it died before it could take the run
            standby.close()
        with open(log, "ab") as out:
            proc = subprocess.Popen([*WORKER, run_id, "--workspace", str(root)], stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    run_records.set_pid(workspace, run_id, proc.pid)
    reap(proc)
    warm_pool()
    return run_records.get(workspace, run_id)


class _Tracker:
    """Progress, heartbeat and cancellation of one run, written to its record."""

    def __init__(self, workspace: Workspace, run_id: str, forward: ProgressFn) -> None:
        self.workspace, self.run_id, self.forward = workspace, run_id, forward
        self.cancel = False
        self.cancel_seen: float | None = None
        self.last_write = 0.0
        self.last_phase = ""
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_id}", daemon=True)

    def __enter__(self) -> _Tracker:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        self.thread.join(timeout=5)

    def _beat(self) -> None:
        while not self.done.wait(run_records.HEARTBEAT_S):
            self._seen(run_records.update(self.workspace, self.run_id))
            if self.cancel_seen is not None and time.monotonic() - self.cancel_seen > CANCEL_GRACE_S:
                run_records.finish(self.workspace, self.run_id, "cancelled",
                                   message=f"terminated: the run ignored the cancel request for {CANCEL_GRACE_S:.0f} s")
                os._exit(143)

    def _seen(self, cancel: bool) -> None:
        if cancel and self.cancel_seen is None:
            self.cancel_seen = time.monotonic()
        self.cancel = self.cancel or cancel

    def progress(self, event: ProgressEvent) -> None:
        self.forward(event)
        phase = event.message.split(" | ")[0]
        now = time.monotonic()
        if now - self.last_write >= PROGRESS_WRITE_S or phase != self.last_phase or event.step >= event.total:
            self.last_write, self.last_phase = now, phase
            self._seen(run_records.update(self.workspace, self.run_id, progress=event.fraction,
                                          message=event.message, phase=phase))

    def should_stop(self) -> bool:
        return self.cancel


def _execute_request(workspace: Workspace, run_id: str, request: RunRequest, tracker: _Tracker,
                     data: SplitDataset | None = None):
    from unlearn_core.data import load_dataset
    from unlearn_core.device import pick_device
    from unlearn_core.methods import get_method
    from unlearn_core.models.defaults import check_compatible
    from unlearn_core.runs.external import METHOD as EXTERNAL
    from unlearn_core.runs.external import evaluate_external, load_external
    from unlearn_core.runs.one_run import unlearn_run
    from unlearn_core.runs.start_model import obtain_model

    def phase(name: str) -> Callable[[ProgressEvent], None]:
        return lambda e: tracker.progress(ProgressEvent(e.step, e.total, f"{name} | {e.message}", e.metrics))

    tracker.progress(ProgressEvent(0, 1, "loading data and model"))
    data = data if data is not None else load_dataset(request.dataset, **request.dataset_options)
    device = pick_device(request.device)
    if request.model_entry:
        model, meta = workspace.load_model(request.model_entry)
        check_compatible(meta, data)
    else:
        model, meta = obtain_model(data, request.model, seed=0, device=device, checkpoint=request.checkpoint,
                                   workspace=workspace, progress=phase("training the original model"),
                                   should_stop=tracker.should_stop)
    check_free_space(workspace.root, RUN_COPIES * sum(t.numel() * t.element_size() for t in model.state_dict().values()),
                     "storing this run")
    if request.study_k is not None:
        return _execute_study(workspace, request, tracker, data, (model, meta), device)
    if request.method == EXTERNAL:
        return evaluate_external(data, model, meta, load_external(request.unlearned, meta), request.forget,
                                 seed=request.seed, device=device, workspace=workspace, checkpoint=request.unlearned,
                                 progress=tracker.progress, should_stop=tracker.should_stop, run_id=run_id)
    config = get_method(request.method).config_cls(**request.config)
    return unlearn_run(data, model, meta, request.forget, request.method, config, seed=request.seed, device=device,
                       workspace=workspace, progress=tracker.progress, should_stop=tracker.should_stop,
                       run_id=run_id)


def _execute_study(workspace: Workspace, request: RunRequest, tracker: _Tracker, data: SplitDataset,
                   original: tuple[Any, Any], device: Any) -> dict[str, Any]:
    """A seed study as a tracked run: progress over its 2K members, cancellable between and within them."""
    from unlearn_core.bench.executors import LocalExecutor
    from unlearn_core.methods import get_method
    from unlearn_core.study.seed_study import check_k, run_study

    k = check_k(request.study_k)
    total = 2 * k
    done = [0]

    def inner(e: ProgressEvent) -> None:  # one member's progress, placed within the whole study
        step = done[0] + (e.step / e.total if e.total else 0.0)
        tracker.progress(ProgressEvent(round(1000 * step), 1000 * total,
                                       f"seed study, member {min(done[0] + 1, total)} of {total} | {e.message}",
                                       e.metrics))

    def finished(_result: Any, n_done: int, _n: int) -> None:
        done[0] = n_done

    config = get_method(request.method).config_cls(**request.config)
    result, _ = run_study(
        data, request.forget, request.method, config, k=k, seed=request.seed, device=device,
        workspace_root=str(workspace.root), executor=LocalExecutor(inner, should_stop=tracker.should_stop),
        on_task=finished, original=original,
    )
    return result


def _tracked(workspace: Workspace, run_id: str, request: RunRequest, forward: ProgressFn,
             data: SplitDataset | None = None):
    """Run a recorded request in this process; the record ends done, cancelled or failed."""
    run_records.mark_running(workspace, run_id, os.getpid())
    with _Tracker(workspace, run_id, forward) as tracker:
        tracker._seen(run_records.get(workspace, run_id).cancel_requested)
        try:
            if tracker.cancel:
                raise Cancelled("cancelled before it started")
            record = _execute_request(workspace, run_id, request, tracker, data)
        except Cancelled:
            run_records.finish(workspace, run_id, "cancelled", message="cancelled: nothing was stored")
            raise
        except BaseException as err:
            log = run_records.log_path(workspace, run_id)
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "a") as f:
                f.write(traceback.format_exc())
            run_records.finish(workspace, run_id, "failed", error=failure_line(err))
            raise
    run_records.finish(workspace, run_id, "done", message="finished")
    return record


def _preload() -> None:
    """Import what executing a run needs (torch, the data, methods, metrics, scikit-learn), before the run
    counts as started: seconds in a fresh process, spent by a standby before it is handed a run."""
    import torch  # noqa: F401

    import unlearn_core.recipes  # noqa: F401
    import unlearn_core.runs.external  # noqa: F401
    import unlearn_core.runs.one_run  # noqa: F401
    import unlearn_core.runs.start_model  # noqa: F401
    from unlearn_core.methods import list_methods

    list_methods()  # the method registry loads every method module on first use
    # what a run's first steps import lazily, more than two seconds in all: the membership attack's
    # scikit-learn (metrics.mia), and torch._dynamo, which torch's optimizers import on their first step
    import sklearn.linear_model  # noqa: F401
    import sklearn.metrics  # noqa: F401
    import sklearn.svm  # noqa: F401
    import torch._dynamo  # noqa: F401


def serve_standby(commands: IO[bytes], status: IO[bytes], after: Sequence[int] = ()) -> int:
    """The body of a standby worker (`runs.pool`): wait until the processes `after` have ended (runs it
    must not slow down, `runs.pool.wait_until_ended`) or a run is handed over, import what a run needs,
    write `READY` on `status`, then block until one line on `commands` hands over a run, and execute it
    with its output in the run's log. End of file (the process that started it went away) ends it
    quietly, status 0."""
    wait_until_ended(after, commands.fileno())
    _preload()
    try:
        os.write(status.fileno(), READY)  # unbuffered: nothing is left to flush into a closed pipe at exit
    except BrokenPipeError:  # nobody waits for it: the run was handed over meanwhile, or the pool's process went away
        pass
    line = commands.readline()  # blocks, using no CPU, until a run is handed over or the pipe closes
    if not line:
        return 0
    run_id, root = read_hand_over(line)
    workspace = Workspace(root)
    log = run_records.log_path(workspace, run_id)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:  # this process's output from now on goes to the run's log, as a fresh worker's
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
    return execute(workspace, run_id)


def execute(workspace: Workspace, run_id: str) -> int:
    """The body of a worker process: execute the recorded run `run_id`; returns the exit status."""
    import torch

    _preload()
    check_id(run_id, "run id")  # before any path (its log, its entry) is built from it
    torch.set_num_threads(worker_threads())  # a standby's OMP setting was read at its import, maybe long ago
    row = run_records.get(workspace, run_id)
    try:
        _tracked(workspace, run_id, RunRequest.from_dict(row.request), no_progress)
    except Cancelled:
        return 0
    except Exception:
        return 1
    return 0


def run_tracked(workspace: Workspace, request: RunRequest, title: str, progress: ProgressFn = no_progress,
                data: SplitDataset | None = None):
    """Execute `request` in this process as a recorded run (listed, cancellable); returns its RunRecord,
    stored under the record's id. `data` is the request's dataset when the caller has it loaded
    already. Errors are re-raised after the record is ended."""
    request.check()
    run_id = new_id()
    run_records.create(workspace, run_id, title, request.to_dict())
    return _tracked(workspace, run_id, request, progress, data)


def title_for(request: RunRequest) -> str:
    """A default run title: method, forget spec and dataset (and K for a seed study)."""
    study = f"seed study (K = {request.study_k}): " if request.study_k is not None else ""
    return f"{study}{request.method} forgetting {request.forget} on {request.dataset}"
