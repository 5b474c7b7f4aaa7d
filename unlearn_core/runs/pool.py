"""Standby workers: run processes started before a run is asked for, so that a run does not wait the
seconds a fresh interpreter spends importing torch, scikit-learn and the library.

A standby is a command (``python -m unlearn_core worker --standby``) started in its own session,
like a run's worker, with a pipe on its stdin and its stdout. It imports what a run needs, writes
`READY` on stdout, then blocks reading one line from stdin: a blocking read, so it uses no CPU
while it waits. The process that starts runs hands it a run by writing that line
(`hand_over_line`) and closing the pipe; end of file without a line means that process went away
(the server stopped, the pool was closed), and the standby exits. A worker executes one run and
ends with it; the pool is then topped up with a fresh standby (`StandbyPool.warm`).

A replacement started beside runs this pool handed over defers its imports until those runs have
ended (`wait_until_ended`), or until it is handed a run itself: importing torch takes a core for
seconds, which the runs would lose (measured by ``benchmarks/run_overhead.py``: a 2-thread run on 2
cores took 1.9 s longer while its replacement imported beside it). A second run started while the
first still runs therefore waits for the imports, as a fresh process would.

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


def _exists(pid: int) -> bool:
    """Whether process `pid` exists (a zombie not yet reaped still does)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def wait_until_ended(pids: Sequence[int], commands: int, poll_s: float = 0.5) -> None:
    """Block until every process of `pids` has ended, or file descriptor `commands` can be read (a run
    is handed over, or the pipe was closed): where a replacement standby waits before its imports.

    It waits on pidfds (Linux), using no CPU; where the platform has none it checks every `poll_s`
    seconds. A pid that has ended already is not waited for.
    """
    pidfds: list[int] = []
    polled: list[int] = []
    for pid in pids:
        try:
            pidfds.append(os.pidfd_open(pid))
        except ProcessLookupError:
            continue
        except (AttributeError, OSError):  # no pidfd_open on this platform or kernel
            if _exists(pid):
                polled.append(pid)
    try:
        while pidfds or polled:
            readable, _, _ = select.select([commands, *pidfds], [], [], poll_s if polled else None)
            if commands in readable:
                return
            for fd in readable:
                pidfds.remove(fd)
                os.close(fd)
            polled = [pid for pid in polled if _exists(pid)]
    finally:
        for fd in pidfds:
            os.close(fd)


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
    """One standby process and the `settings` of the environment it was started with; with `after`, it
    defers its imports until those processes have ended (``--after PID``, `wait_until_ended`)."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str], after: Sequence[int] = ()) -> None:
        self.settings = settings(env)
        self.proc = subprocess.Popen([*command, *(f"--after={pid}" for pid in after)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=dict(env), start_new_session=True)
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
    """Up to `pool_size()` standby processes of `command` (more once a caller asked for more, see
    `warm`), shared by the threads of this process."""

    def __init__(self, command: Sequence[str]) -> None:
        self._command = list(command)
        self._standbys: list[Standby] = []
        self._busy: list[Standby] = []  # handed a run, maybe still running it
        self._least = 0
        self._lock = threading.Lock()

    def size(self) -> int:
        """How many standbys the pool keeps: `pool_size()`, raised to the most a caller asked for
        (`warm`'s `at_least`); 0 when $UNLEARN_STANDBY_WORKERS turns them off."""
        size = pool_size()
        return max(size, self._least) if size else 0

    def warm(self, env: Mapping[str, str], at_least: int = 0) -> None:
        """Top the pool up to `size()` live standbys started with `env`, replacing dead ones and closing
        those started with other `settings` (they would never be taken) and any beyond the size. A page
        that starts several runs at once (the tour) asks for `at_least` that many, from then on. New
        standbys started while runs it handed over still run defer their imports until those end."""
        wanted = settings(env)
        with self._lock:
            self._least = max(self._least, min(at_least, MAX_SIZE))
            size = self.size()
            self._busy = [s for s in self._busy if s.alive()]
            after = [s.pid for s in self._busy]
            keep = [s for s in self._standbys if s.alive() and s.settings == wanted][:size]
            for surplus in (s for s in self._standbys if s not in keep):
                surplus.close()
            keep += [Standby(self._command, env, after) for _ in range(size - len(keep))]
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
            self._busy.append(chosen)
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
            self._least = 0  # a later `warm` starts over at `pool_size()`
        for standby in standbys:
            standby.close()
