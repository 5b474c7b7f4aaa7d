"""Peak memory of a piece of work: the process's peak resident set size and, on CUDA, the peak
memory allocated by torch.

Peak RSS is the kernel's own high-water mark, not a sample: on Linux it is reset before the work
(writing ``5`` to ``/proc/self/clear_refs``) and read after it (``VmHWM`` in
``/proc/self/status``), so a spike lasting a millisecond is counted and the figure belongs to this
piece of work even in a long-lived process (a Ray worker, the app's server). psutil only reads the
current RSS (a sampling thread would miss short spikes), so it is not used. Where the reset is not
possible (macOS, a locked-down /proc) the figure is ``resource.getrusage``'s ``ru_maxrss``: the
peak since the process started, an upper bound. The high-water mark is per process: work running
concurrently in other threads of the same process (two app jobs at once) is counted too.
"""

from __future__ import annotations

import resource
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
MB = 1024 * 1024


@dataclass
class PeakMemory:
    """Peak memory in MiB; None where not measured (no CUDA in use, or the work has not ended)."""

    peak_rss_mb: float | None = None
    cuda_max_allocated_mb: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        return {"peak_rss_mb": self.peak_rss_mb, "cuda_max_allocated_mb": self.cuda_max_allocated_mb}


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux >= 4.0); False where it cannot."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """This process's peak RSS in MiB since the last `reset_peak_rss` (or since it started)."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / MB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / MB if sys.platform == "darwin" else peak * 1024 / MB


@contextmanager
def track_peak_memory(device: torch.device | str) -> Iterator[PeakMemory]:
    """Measure the peak RSS (and CUDA max allocated on a cuda `device`) of the enclosed work.

    The yielded PeakMemory is filled in when the block ends, also when it raises.
    """
    device = torch.device(device)
    cuda = device.type == "cuda" and torch.cuda.is_available()
    reset_peak_rss()
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    peak = PeakMemory()
    try:
        yield peak
    finally:
        peak.peak_rss_mb = round(peak_rss_mb(), 1)
        if cuda:
            peak.cuda_max_allocated_mb = round(torch.cuda.max_memory_allocated(device) / MB, 1)
