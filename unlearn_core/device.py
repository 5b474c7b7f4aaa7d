"""Device selection: cuda, then mps, then cpu, with a clear message for an unavailable request."""

from __future__ import annotations

import torch


def available_devices() -> list[str]:
    """The devices this machine can run on, best first."""
    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    found.append("cpu")
    return found


def pick_device(requested: str | None = None) -> torch.device:
    """Return `requested` if it is usable, else the best available device (cuda > mps > cpu).

    Raises ValueError when a specific device is asked for that this machine does not have.
    """
    if requested in (None, "", "auto"):
        return torch.device(available_devices()[0])
    kind = str(requested).split(":")[0]
    if kind not in ("cuda", "mps", "cpu"):
        raise ValueError(f"unknown device {requested!r}: use auto, cuda, mps or cpu")
    if kind not in available_devices():
        raise ValueError(
            f"device {requested!r} is not available here; available: {', '.join(available_devices())}"
        )
    return torch.device(requested)
