"""Background runs: a worker thread per run writes a status object; pages poll it in a fragment.

Streamlit calls stay in the script thread. A run keeps going while the user visits other pages,
and the cancel button sets a flag that the library's loops poll (cooperative cancellation).
"""

from __future__ import annotations

import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import streamlit as st
import torch

from unlearn_core.progress import Cancelled, ProgressEvent, ProgressFn, StopFn
from unlearn_core.runs import unlearn_run

Work = Callable[[ProgressFn, StopFn], str]


@dataclass
class Job:
    """The status of one background run, written by its worker thread only."""

    id: str
    title: str
    started: float = field(default_factory=time.time)
    status: str = "running"  # running | done | failed | cancelled
    fraction: float = 0.0
    message: str = "starting"
    result: str | None = None
    error: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def finished(self) -> bool:
        return self.status != "running"

    def elapsed(self) -> float:
        return time.time() - self.started


@st.cache_resource
def _jobs() -> dict[str, Job]:
    return {}


def start(title: str, work: Work) -> Job:
    """Run `work(progress, should_stop) -> result id` in a thread; return its Job."""
    job = Job(uuid.uuid4().hex[:8], title)
    _jobs()[job.id] = job

    def progress(event: ProgressEvent) -> None:
        job.fraction, job.message = event.fraction, event.message

    def target() -> None:
        try:
            job.result = work(progress, job.stop.is_set)
            job.status, job.fraction, job.message = "done", 1.0, "finished"
        except Cancelled:
            job.status, job.message = "cancelled", "cancelled: nothing was stored"
        except torch.cuda.OutOfMemoryError:
            job.status, job.error = "failed", "the GPU ran out of memory: choose the CPU or a smaller batch size"
        except ValueError as err:
            job.status, job.error = "failed", str(err)
        except Exception as err:  # shown to the user, with the trace for a bug report
            job.status, job.error = "failed", f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=4)}"

    threading.Thread(target=target, name=f"run-{job.id}", daemon=True).start()
    return job


def get(job_id: str) -> Job | None:
    return _jobs().get(job_id)


def start_unlearn_run(title: str, data, model, meta, spec: str, method: str, config, *, seed: int,
                      device: torch.device, workspace) -> Job:
    """Run `unlearn_run` in the background (stored in `workspace`) and list it among this session's
    runs; the job's result is the stored run's id."""
    def work(progress: ProgressFn, should_stop: StopFn) -> str:
        record = unlearn_run(data, model, meta, spec, method, config, seed=seed, device=device,
                             workspace=workspace, progress=progress, should_stop=should_stop)
        return record.entry.id

    job = start(title, work)
    st.session_state.setdefault("my_jobs", []).append(job.id)
    return job
