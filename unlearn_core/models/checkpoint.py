"""Checkpoints: safetensors with JSON metadata; `.pt` state dicts only with `weights_only=True`.

A user's file is never unpickled into arbitrary objects. A state dict that does not fit the
architecture raises CheckpointMismatch listing missing / unexpected keys and wrong shapes.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .base import SplitClassifier
from .registry import build_model

META_KEY = "unlearn_studio"


@dataclass
class ModelMeta:
    """Provenance stored in every checkpoint: what to build and how it was trained."""

    arch: str
    num_classes: int
    input_shape: tuple[int, int, int]
    dataset: str = ""
    dataset_options: dict[str, object] = field(default_factory=dict)
    class_names: list[str] = field(default_factory=list)
    arch_options: dict[str, object] = field(default_factory=dict)
    recipe: dict[str, object] = field(default_factory=dict)
    seed: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    note: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelMeta:
        raw = json.loads(text)
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        known["input_shape"] = tuple(known.get("input_shape", ()))
        return cls(**known)

    def build(self) -> SplitClassifier:
        """A freshly initialised model of this architecture."""
        c, h, _ = self.input_shape
        return build_model(
            self.arch, num_classes=self.num_classes, in_channels=c, image_size=h, **self.arch_options
        )


class CheckpointMismatch(ValueError):
    """The state dict does not fit the architecture; the message lists every difference."""


def save_checkpoint(model: torch.nn.Module, path: str | Path, meta: ModelMeta) -> Path:
    """Write `model`'s state dict and `meta` to `path` atomically (temp file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        save_file(state, tmp, metadata={META_KEY: meta.to_json()})
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def read_meta(path: str | Path) -> ModelMeta | None:
    """The metadata stored in a safetensors checkpoint, or None if it has none."""
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(META_KEY)
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{Path(path).name} is not a readable safetensors checkpoint: {err}") from err
    return ModelMeta.from_json(raw) if raw else None


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from `.safetensors`, or from a `.pt` / `.pth` file loaded with weights_only=True."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as err:
            raise ValueError(f"{path.name} is not a readable safetensors checkpoint: {err}") from err
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # UnpicklingError, RuntimeError, EOFError, ...
        raise ValueError(_torch_load_error(path.name, err)) from err
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path.name} does not hold a state dict of tensors")
    return obj


def _torch_load_error(name: str, err: Exception) -> str:
    """A one-line reason a `.pt` file was refused (torch's own message advises unsafe loading)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
    found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if found:
        return (
            f"{name} holds pickled Python objects, not only tensors (e.g. {found.group(1)}); refused for "
            "safety, it is never unpickled: re-save it with torch.save(model.state_dict(), ...) or as .safetensors"
        )
    detail = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    reason = detail.group(1).strip() if detail else (text.strip().splitlines() or ["unknown error"])[0]
    return f"{name} is not a readable PyTorch state dict (damaged, or not a checkpoint): {reason}"


def check_state_dict(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Raise CheckpointMismatch naming every missing / unexpected key and wrong shape."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(expected) & set(state)
        if tuple(state[k].shape) != tuple(expected[k].shape)
    )
    if missing or unexpected or wrong:
        parts = []
        for title, items in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", wrong)):
            if items:
                shown = ", ".join(items[:10]) + (f", ... ({len(items)} in all)" if len(items) > 10 else "")
                parts.append(f"{title}: {shown}")
        raise CheckpointMismatch("checkpoint does not fit the architecture; " + "; ".join(parts))


def load_checkpoint(path: str | Path, meta: ModelMeta | None = None) -> tuple[SplitClassifier, ModelMeta]:
    """Build the model described by the file's metadata (or `meta`) and load its weights.

    `meta` is required for files without metadata (plain `.pt` state dicts) and, when given,
    overrides the stored metadata's architecture.
    """
    path = Path(path)
    state = read_state_dict(path)
    stored = read_meta(path) if path.suffix == ".safetensors" else None
    meta = meta or stored
    if meta is None:
        raise ValueError(
            f"{path.name} carries no architecture metadata: choose the architecture, classes and input shape"
        )
    model = meta.build()
    check_state_dict(model, state)
    model.load_state_dict(state)
    model.eval()
    return model, meta


def state_digest(model: torch.nn.Module) -> str:
    """A short content hash of the weights, to tell checkpoints apart in the UI and the store."""
    import hashlib

    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:12]
