"""Device selection (cuda, then mps, then cpu, with a clear message for an unavailable request) and
`on_device`, which runs a model on a device without moving the caller's model."""

from __future__ import annotations

import copy
import itertools
from typing import TypeVar

import torch
from torch import nn

M = TypeVar("M", bound=nn.Module)


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

    Raises ValueError when a specific device is asked for that this machine does not have, and for
    an empty or blank name (a typo, not a request for auto: say ``auto``).
    """
    if requested is not None and str(requested).strip() == "":
        raise ValueError(f"device {requested!r} is empty: use auto, cuda, mps or cpu")
    if requested in (None, "auto"):
        return torch.device(available_devices()[0])
    kind = str(requested).split(":")[0]
    if kind not in ("cuda", "mps", "cpu"):
        raise ValueError(f"unknown device {requested!r}: use auto, cuda, mps or cpu")
    if kind not in available_devices():
        raise ValueError(
            f"device {requested!r} is not available here; available: {', '.join(available_devices())}"
        )
    return torch.device(requested)


def _on(tensor_device: torch.device, target: torch.device) -> bool:
    """Whether a tensor on `tensor_device` is on `target` (``cuda`` without an index means the current one)."""
    if tensor_device.type != target.type:
        return False
    if target.index is None:
        return tensor_device.type != "cuda" or tensor_device.index == torch.cuda.current_device()
    return tensor_device.index == target.index


def on_device(model: M, device: torch.device | str) -> M:
    """`model` itself when all its parameters and buffers are already on `device`, else a deep copy there.

    The caller's model is never moved: it is often a cached object that another thread (a page, a
    background run) reads at the same time, so moving it and back would race.
    """
    target = torch.device(device)
    tensors = itertools.chain(model.parameters(), model.buffers())
    if all(_on(t.device, target) for t in tensors):
        return model
    return copy.deepcopy(model).to(target)
