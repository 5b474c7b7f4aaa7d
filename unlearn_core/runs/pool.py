"""Standby workers: run processes started before a run is asked for, so that a run does not wait the
seconds a fresh interpreter spends importing torch, scikit-learn and the library.

A standby is a command (``python -m unlearn_core worker --standby``) started in its own session,
like a run's worker, with a pipe on its stdin and its stdout. It imports what a run needs, writes
`READY` on stdout, then blocks reading one line from stdin: a blocking read, so it uses no CPU
while it waits. The process that starts runs hands it a run by writing that line
(`hand_over_line`) and closing the pipe; end of file without a line means that process went away
(the server stopped, the pool was closed), and the standby exits. A worker executes one run and
ends with it; the pool is then topped up with a fresh standby (`StandbyPool.warm`).

Not a fork of the server: torch (its thread pools, CUDA) is not fork-safe, and the server's threads
would be copied mid-flight. A standby is only handed a run when it was started with the settings
the run would get now (`settings`: the thread budget, the library's, torch's and CUDA's variables),
so a changed setting is never served stale.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, cast

SIZE_ENV = "UNLEARN_STANDBY_WORKERS"
DEFAULT_SIZE = 1
MAX_SIZE = 8
READY = b"ready\n"
# environment variables that shape a run; others (e.g. the KMP_* that importing torch sets in the
# server) do not make a standby stale
SETTING_PREFIXES = ("UNLEARN_", "OMP_", "MKL_", "CUDA_", "PYTORCH_", "TORCH_", "PYTHON")


def settings(env: Mapping[str, str]) -> dict[str, str]:
    """The variables of `env` that shape a run (`SETTING_PREFIXES`; not the pool's size): a standby
    started with other values of them is not handed a run."""
    return {k: v for k, v in env.items() if k.startswith(SETTING_PREFIXES) and k != SIZE_ENV}


def pool_size() -> int:
    """How many standby workers to keep: $UNLEARN_STANDBY_WORKERS, else `DEFAULT_SIZE`; 0 turns them off.

    One covers the usual case (a run started now and then) at the memory of one idle interpreter
    with torch and scikit-learn loaded (about 0.7 GB resident, measured on Linux with torch 2.14 CPU);
    more only help when several runs start at once.
    """
    raw = os.environ.get(SIZE_ENV, "").strip()
    if not raw:
        return DEFAULT_SIZE
    if not raw.isdecimal() or int(raw) > MAX_SIZE:
        raise ValueError(f"${SIZE_ENV} must be a whole number from 0 (no standby workers) to {MAX_SIZE}; got {raw!r}")
    return int(raw)


def reap(proc: subprocess.Popen[bytes]) -> None:
    """Wait for `proc` in a background thread, so that once it ends it does not linger as a zombie
    (which would still look alive to a run's process check)."""
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()


def hand_over_line(run_id: str, workspace_root: Path) -> bytes:
    """The line that hands run `run_id` of the workspace at `workspace_root` to a standby."""
    return json.dumps({"run_id": run_id, "workspace": str(workspace_root)}).encode() + b"\n"


def read_hand_over(line: bytes) -> tuple[str, str]:
    """(run id, workspace root) from a `hand_over_line`, or a ValueError saying what is wrong with it."""
    try:
        message = json.loads(line)
        return str(message["run_id"]), str(message["workspace"])
    except (ValueError, TypeError, KeyError) as err:
        raise ValueError(f"a standby worker expects one JSON line with run_id and workspace; got {line[:200]!r}") from err


class Standby:
    """One standby process and the `settings` of the environment it was started with."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str]) -> None:
        self.settings = settings(env)
        self.proc = subprocess.Popen(list(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=dict(env),
                                     start_new_session=True)
        self._stdin, self._stdout = cast(IO[bytes], self.proc.stdin), cast(IO[bytes], self.proc.stdout)
        self._ready = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        """Whether the process still runs (`poll` also reaps it if it ended)."""
        return self.proc.poll() is None

    def ready(self, timeout: float = 0.0) -> bool:
        """Whether it has imported everything and waits for a run; waits up to `timeout` seconds to know."""
        if not self._ready and not self._stdout.closed:
            readable, _, _ = select.select([self._stdout], [], [], timeout)
            self._ready = bool(readable) and self._stdout.readline() == READY
        return self._ready

    def hand_over(self, line: bytes) -> bool:
        """Give it its run (`line`) and close the pipe; False if it died meanwhile (the run was not given)."""
        try:
            self._stdin.write(line)
            self._stdin.close()
        except OSError:  # BrokenPipeError: it ended between the check and the write
            return False
        finally:
            self._stdout.close()
        return True

    def close(self) -> None:
        """End it: close its pipes (it reads end of file, or fails to say ready, and exits); reaped in the background."""
        for pipe in (self._stdin, self._stdout):
            try:
                pipe.close()
            except OSError:  # it had died: nothing was listening
                pass
        reap(self.proc)


class StandbyPool:
    """Up to `pool_size()` standby processes of `command`, shared by the threads of this process."""

    def __init__(self, command: Sequence[str]) -> None:
        self._command = list(command)
        self._standbys: list[Standby] = []
        self._lock = threading.Lock()

    def warm(self, env: Mapping[str, str]) -> None:
        """Top the pool up to `pool_size()` live standbys started with `env`, replacing dead ones and
        closing those started with other `settings` (they would never be taken) and any beyond the size."""
        size, wanted = pool_size(), settings(env)
        with self._lock:
            keep = [s for s in self._standbys if s.alive() and s.settings == wanted][:size]
            for surplus in (s for s in self._standbys if s not in keep):
                surplus.close()
            keep += [Standby(self._command, env) for _ in range(size - len(keep))]
            self._standbys = keep

    def take(self, env: Mapping[str, str]) -> Standby | None:
        """A live standby started with the `settings` of `env`, out of the pool (ready ones first); None if
        there is none. The pool is not topped up here: call `warm` after handing the run over."""
        wanted = settings(env)
        with self._lock:
            usable = [s for s in self._standbys if s.settings == wanted and s.alive()]
            if not usable:
                return None
            chosen = next((s for s in usable if s.ready()), usable[0])
            self._standbys.remove(chosen)
            return chosen

    def pids(self) -> list[int]:
        """The process ids of the standbys held now."""
        with self._lock:
            return [s.pid for s in self._standbys]

    def wait_ready(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds until every standby held has imported everything; whether they have."""
        deadline = time.monotonic() + timeout
        with self._lock:
            standbys = list(self._standbys)
        return all(s.ready(max(0.0, deadline - time.monotonic())) for s in standbys)

    def close(self) -> None:
        """End every standby (they read end of file and exit)."""
        with self._lock:
            standbys, self._standbys = self._standbys, []
        for standby in standbys:
            standby.close()
