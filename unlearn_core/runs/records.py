"""Run records: every unlearning run as a row of the workspace's SQLite registry, with a lifecycle.

``queued -> running -> done | failed | cancelled``. The process executing a run (a worker, or
the CLI's ``unlearn`` itself) writes its progress fraction, message and phase, and a heartbeat at
least every `HEARTBEAT_S` seconds. Pages and the CLI read runs from here only, so a run outlives
the browser tab that started it and can be cancelled from any tab: `request_cancel` stores a flag
that the run's `should_stop` polls. A run that has not ended and whose heartbeat is older than
`STALE_S` (or whose process is gone) reads as ``failed (interrupted)``, never running forever.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from unlearn_core.workspace.store import Workspace

HEARTBEAT_S = 2.0
STALE_S = 15.0  # 7 missed heartbeats: a loaded 2-core machine delays one by seconds, never by 15
QUEUED_GRACE_S = 120.0  # a spawned worker may take this long to import torch under heavy load
ACTIVE = ("queued", "running")
INTERRUPTED = "interrupted: the run's process stopped without finishing (killed, crashed or the machine restarted)"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    method TEXT NOT NULL,
    forget TEXT NOT NULL,
    dataset TEXT NOT NULL,
    request TEXT NOT NULL,
    status TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    phase TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    started REAL,
    ended REAL,
    heartbeat REAL NOT NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    log_path TEXT,
    pid INTEGER,
    host TEXT
);
CREATE INDEX IF NOT EXISTS runs_created ON runs(created);
"""


@dataclass(frozen=True)
class RunRow:
    """One run as stored: what was asked (`request`), where it stands, and how it ended."""

    id: str
    title: str
    method: str
    forget: str
    dataset: str
    request: dict[str, Any]
    status: str  # queued | running | done | failed | cancelled
    progress: float
    message: str
    phase: str
    created: float
    started: float | None
    ended: float | None
    heartbeat: float
    cancel_requested: bool
    error: str | None
    log_path: str | None
    pid: int | None
    host: str | None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def interrupted(self) -> bool:
        return self.status == "failed" and (self.error or "").startswith("interrupted")

    @property
    def label(self) -> str:
        """The status as shown to people: ``failed (interrupted)`` for a run whose process died."""
        return "failed (interrupted)" if self.interrupted else self.status

    def elapsed(self, now: float | None = None) -> float:
        """Seconds since the run started (or was queued), stopped at its end."""
        end = self.ended if self.ended is not None else (now or time.time())
        return max(0.0, end - (self.started or self.created))

    def to_dict(self) -> dict[str, Any]:
        """The fields of `runs --json`."""
        return {
            "id": self.id, "title": self.title, "method": self.method, "forget": self.forget,
            "dataset": self.dataset, "status": self.status, "label": self.label, "interrupted": self.interrupted,
            "progress": self.progress, "message": self.message, "phase": self.phase,
            "started": _iso(self.started), "ended": _iso(self.ended), "elapsed_s": round(self.elapsed(), 2),
            "error": self.error, "log_path": self.log_path, "cancel_requested": self.cancel_requested,
        }


def _iso(t: float | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


_READY: set[str] = set()  # registries whose runs table this process has created or seen


def _connect(workspace: Workspace) -> sqlite3.Connection:
    """The workspace's registry connection, with the runs table created on this process's first use."""
    path = str((workspace.root / "registry.sqlite").resolve())
    db = workspace.connect()
    if path not in _READY:
        db.executescript(_SCHEMA)
        _READY.add(path)
    return db


def _row(r: sqlite3.Row) -> RunRow:
    d = dict(r)
    d["request"] = json.loads(d["request"])
    d["cancel_requested"] = bool(d["cancel_requested"])
    return RunRow(**d)


def create(workspace: Workspace, run_id: str, title: str, request: dict[str, Any]) -> RunRow:
    """Record a new queued run; `request` (plain JSON) says everything needed to execute it."""
    now = time.time()
    with closing(_connect(workspace)) as db, db:
        db.execute(
            "INSERT INTO runs (id, title, method, forget, dataset, request, status, message, created, heartbeat, "
            "log_path, host) VALUES (?, ?, ?, ?, ?, ?, 'queued', 'queued', ?, ?, ?, ?)",
            (run_id, title, request["method"], request["forget"], request["dataset"], json.dumps(request), now, now,
             str(log_path(workspace, run_id)), socket.gethostname()),
        )
    return get(workspace, run_id)


def log_path(workspace: Workspace, run_id: str):
    """Where a run's log (and the trace of a failure) is written: ``<workspace>/logs/<id>.log``
    (the id checked by the file-system policy first)."""
    from unlearn_core.fs_policy import check_id

    return workspace.root / "logs" / f"{check_id(run_id, 'run id')}.log"


def get(workspace: Workspace, run_id: str) -> RunRow:
    """The run `run_id` (interrupted ones settled), or a ValueError."""
    settle(workspace)
    with closing(_connect(workspace)) as db:
        r = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    if r is None:
        raise ValueError(f"no run {run_id!r} in workspace {workspace.root}")
    return _row(r)


def list_runs(workspace: Workspace, limit: int = 50, dataset: str | None = None) -> list[RunRow]:
    """The newest runs first (interrupted ones settled), optionally of one dataset."""
    settle(workspace)
    query, args = "SELECT * FROM runs", []
    if dataset is not None:
        query, args = query + " WHERE dataset = ?", [dataset]
    with closing(_connect(workspace)) as db:
        rows = db.execute(query + " ORDER BY created DESC, id DESC LIMIT ?", [*args, limit]).fetchall()
    return [_row(r) for r in rows]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped by its parent) is gone for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def settle(workspace: Workspace, now: float | None = None) -> int:
    """Mark every active run whose heartbeat is stale, or whose process on this host is gone, as
    failed (interrupted), ended at its last heartbeat. Returns how many were settled."""
    now = now or time.time()
    host = socket.gethostname()
    with closing(_connect(workspace)) as db:
        rows = db.execute("SELECT * FROM runs WHERE status IN ('queued', 'running')").fetchall()
    dead = []
    for r in rows:
        grace = QUEUED_GRACE_S if r["status"] == "queued" else STALE_S
        gone = r["pid"] is not None and r["host"] == host and not _alive(r["pid"])
        if gone or now - r["heartbeat"] > grace:
            dead.append((INTERRUPTED, r["heartbeat"], r["id"]))
    if dead:
        with closing(_connect(workspace)) as db, db:
            db.executemany("UPDATE runs SET status = 'failed', error = ?, ended = ? "
                           "WHERE id = ? AND status IN ('queued', 'running')", dead)
    return len(dead)


def mark_running(workspace: Workspace, run_id: str, pid: int) -> None:
    """The executing process took the run: it is running, started now, in process `pid`."""
    now = time.time()
    with closing(_connect(workspace)) as db, db:
        db.execute("UPDATE runs SET status = 'running', started = ?, heartbeat = ?, pid = ?, host = ?, "
                   "message = 'starting' WHERE id = ? AND status IN ('queued', 'running')",
                   (now, now, pid, socket.gethostname(), run_id))


def set_pid(workspace: Workspace, run_id: str, pid: int) -> None:
    """The process that will execute a queued run (known to the launcher before the run starts)."""
    with closing(_connect(workspace)) as db, db:
        db.execute("UPDATE runs SET pid = ? WHERE id = ?", (pid, run_id))


def update(workspace: Workspace, run_id: str, *, progress: float | None = None, message: str | None = None,
           phase: str | None = None) -> bool:
    """Write progress and a heartbeat; returns whether a cancel was requested (one query for both)."""
    sets, args = ["heartbeat = ?"], [time.time()]
    for column, value in (("progress", progress), ("message", message), ("phase", phase)):
        if value is not None:
            sets.append(f"{column} = ?")
            args.append(value)
    with closing(_connect(workspace)) as db, db:
        db.execute(f"UPDATE runs SET {', '.join(sets)} WHERE id = ? AND status = 'running'", [*args, run_id])
        r = db.execute("SELECT cancel_requested FROM runs WHERE id = ?", (run_id,)).fetchone()
    return bool(r and r[0])


def finish(workspace: Workspace, run_id: str, status: str, *, error: str | None = None,
           message: str | None = None) -> None:
    """End a run: done, failed (with a one-line `error`) or cancelled; the end time stops its clock."""
    if status not in ("done", "failed", "cancelled"):
        raise ValueError(f"a run ends as done, failed or cancelled, not {status!r}")
    now = time.time()
    progress = 1.0 if status == "done" else None
    with closing(_connect(workspace)) as db, db:
        db.execute(
            "UPDATE runs SET status = ?, ended = ?, heartbeat = ?, error = ?, message = COALESCE(?, message), "
            "progress = COALESCE(?, progress) WHERE id = ? AND status IN ('queued', 'running')",
            (status, now, now, error, message or status, progress, run_id),
        )


def request_cancel(workspace: Workspace, run_id: str) -> RunRow:
    """Ask a run to stop (from any tab or process); the run polls the flag. Refused once it ended."""
    row = get(workspace, run_id)
    if not row.active:
        raise ValueError(f"run {run_id} already ended ({row.label})")
    with closing(_connect(workspace)) as db, db:
        db.execute("UPDATE runs SET cancel_requested = 1, message = 'cancel requested' WHERE id = ?", (run_id,))
    return get(workspace, run_id)


def cancel_active(workspace: Workspace, wait_s: float = 0.0, poll_s: float = 0.5) -> None:
    """Ask every queued or running run of `workspace` to stop, then wait up to `wait_s` for them to end
    (a benchmark or a test leaving workers behind would load the machine for whatever comes next)."""
    for row in list_runs(workspace):
        if row.active:
            request_cancel(workspace, row.id)
    deadline = time.time() + wait_s
    while time.time() < deadline and any(r.active for r in list_runs(workspace)):
        time.sleep(poll_s)
