"""Models computed once per workspace and reused: the retrained oracle and trained original models.

A cached model is keyed by what it was made from, including the data's content fingerprint
(`fingerprint.data_fingerprint`). `obtain` looks the key up; a hit whose files are missing or
unreadable is marked broken and recomputed. Two processes that need the same model serialize
on a per-key file lock (`filelock`, an OS lock: a killed holder releases it, so no stale pending
record can block the next run); the second one waits, finds the first one's model and reuses it.
Every answer says why it was or was not reused (`Cached.reason`).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from filelock import FileLock, Timeout

from unlearn_core.models import ModelMeta, SplitClassifier
from unlearn_core.progress import ProgressEvent, ProgressFn, StopFn, check_stop, never_stop, no_progress
from unlearn_core.workspace.store import Entry, Workspace

Build = Callable[[], tuple[SplitClassifier, ModelMeta, dict]]


@dataclass
class Cached:
    """A model from the cache or freshly built: whether it was reused, why, and the stored entry."""

    model: SplitClassifier
    meta: ModelMeta
    entry: Entry | None
    reused: bool
    reason: str
    waited_s: float = 0.0


def _lookup(workspace: Workspace, key: str, key_base: str, dataset: str, label: str) -> tuple[Cached | None, str]:
    """The newest readable entry under `key`, or None and the reason nothing can be reused."""
    broken = False
    while (found := workspace.find("model", key)) is not None:
        try:
            model, meta = workspace.load_model(found.id)
            return Cached(model, meta, found, True, f"reused the cached {label} {found.id}"), ""
        except Exception:  # missing, truncated or corrupt files: never a permanent error
            workspace.mark_broken(found.id)
            broken = True
    if broken:
        return None, f"cached {label} files unreadable"
    if any(e.info.get("key_base") == key_base for e in workspace.list("model", dataset=dataset)):
        return None, f"data changed since the cached {label}"
    return None, f"no cached {label}"


def lock_path(workspace: Workspace, key: str) -> str:
    """The lock file guarding the computation of the model stored under `key`."""
    folder = workspace.root / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".lock"))


def obtain(
    workspace: Workspace,
    *,
    key: str,
    key_base: str,
    dataset: str,
    name: str,
    label: str,
    build: Build,
    progress: ProgressFn = no_progress,
    should_stop: StopFn = never_stop,
) -> Cached:
    """The model stored under `key`, computed by `build` (and stored) only if no readable one exists.

    `key_base` is the key without the data fingerprint: an entry under it with another
    fingerprint means the data changed. `build` returns (model, meta, info to store).
    """
    hit, reason = _lookup(workspace, key, key_base, dataset, label)
    if hit is not None:
        return hit
    lock = FileLock(lock_path(workspace, key))
    start = time.perf_counter()
    while True:
        try:
            lock.acquire(timeout=0.5)
            break
        except Timeout:
            check_stop(should_stop)
            progress(ProgressEvent(0, 1, f"waiting for a concurrent run computing the same {label} "
                                         f"({time.perf_counter() - start:.0f} s)"))
    waited = time.perf_counter() - start
    try:
        hit, _ = _lookup(workspace, key, key_base, dataset, label)
        if hit is not None:
            hit.reason, hit.waited_s = f"computed by a concurrent run; waited {waited:.1f} s for it", waited
            return hit
        model, meta, info = build()
        entry = workspace.save_model(model, meta, name, key=key, info={"key_base": key_base, **info})
        return Cached(model, meta, entry, False, reason, waited)
    finally:
        lock.release()


def measured_here(device: torch.device) -> dict[str, object]:
    """When and where a time was measured, stored with it: UTC time, device, load, torch threads."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "device": str(device),
            "host_load": load, "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count()}
