"""Errors as the user sees them: one line on the screen, the trace in a log file.

The one module that turns exceptions into the one-line messages the CLI, the worker, the
benchmark tasks and the app show: `one_line` for a refusal (its message), `failure_line` for a
run or task that failed. `write_trace` keeps the full trace of an error nobody foresaw in
``<workspace>/logs/`` (or the system's temporary folder when the workspace cannot be written), so
a bug report can include it.
"""

from __future__ import annotations

import sys
import tempfile
import time
import traceback
import uuid
from pathlib import Path


def one_line(err: BaseException) -> str:
    """The exception's message on one line (newlines and runs of spaces collapsed)."""
    return " ".join(str(err).split()) or type(err).__name__


def failure_line(err: BaseException, *, name_refusals: bool = False) -> str:
    """Why a run or a benchmark task failed, on one line (the trace goes to its log file).

    A GPU out-of-memory error becomes advice; a ``ValueError`` (how the studio refuses a request)
    reads as its message alone, unless `name_refusals` (a benchmark table's ``failed`` list names
    every exception's type); anything else as ``Type: first line of its message``.
    """
    torch = sys.modules.get("torch")  # no import: a failure before torch was loaded is not an OOM
    if torch is not None and isinstance(err, torch.cuda.OutOfMemoryError):
        return "the GPU ran out of memory: choose the CPU or a smaller batch size"
    lines = str(err).strip().splitlines()
    text = lines[0].strip() if lines else ""
    if isinstance(err, ValueError) and text and not name_refusals:
        return text
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def write_trace(err: BaseException, workspace: str | Path | None, source: str) -> Path | None:
    """Write `err`'s traceback to ``<workspace>/logs/<source>-<time>-<id>.log``; the path, or None.

    Falls back to ``<tmp>/unlearn-studio-logs/`` when the workspace is missing or not writable;
    never raises (it runs while another error is being reported).
    """
    text = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    name = f"{source}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}.log"
    folders = [Path(workspace) / "logs"] if workspace and Path(workspace).is_dir() else []
    folders.append(Path(tempfile.gettempdir()) / "unlearn-studio-logs")
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
            return folder / name
        except OSError:
            continue
    return None


__all__ = ["failure_line", "one_line", "write_trace"]
