"""Traces of unexpected errors, written to a log file instead of the user's screen.

The CLI and the app show one line for an error they did not foresee and keep the full trace in
``<workspace>/logs/`` (or the system's temporary folder when the workspace cannot be written), so
a bug report can include it.
"""

from __future__ import annotations

import tempfile
import time
import traceback
import uuid
from pathlib import Path


def one_line(err: BaseException) -> str:
    """The exception's message on one line (newlines and runs of spaces collapsed)."""
    return " ".join(str(err).split()) or type(err).__name__


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


__all__ = ["one_line", "write_trace"]
