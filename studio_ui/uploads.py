"""Uploaded checkpoints (a model to work on, or one unlearned elsewhere): kept in the workspace
under the user's own file name, checked before use.

A checkpoint becomes the active model only after it loads (safetensors, validated metadata,
finite weights) and fits the active dataset; otherwise a ValueError names the user's file (not a
hashed copy) and the copy is removed again.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from unlearn_core.data import SplitDataset
from unlearn_core.models import ModelMeta, load_checkpoint
from unlearn_core.models.defaults import check_compatible
from unlearn_core.runs.external import load_external


def safe_file_name(name: str) -> str:
    """`name` reduced to a plain file name of letters, digits, ``._-`` (never a path)."""
    base = re.sub(r"[^\w .-]", "_", Path(name.replace("\\", "/")).name).lstrip(".")[-100:]
    return base or "checkpoint.safetensors"


def _keep_if_usable(root: str | Path, file_name: str, blob: bytes, check: Callable[[Path], None]) -> Path:
    """Store `blob` as ``<root>/uploads/<content hash>/<file name>`` and run `check` on it; a file
    the check refuses (ValueError) is removed again, unless the same upload was kept before."""
    folder = Path(root) / "uploads" / hashlib.sha256(blob).hexdigest()[:16]
    target = folder / safe_file_name(file_name)
    created = not folder.exists()
    try:
        if not target.exists():
            folder.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blob)
        check(target)
    except ValueError:
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return target


def accept_checkpoint(root: str | Path, file_name: str, blob: bytes, data: SplitDataset) -> Path:
    """Store an uploaded checkpoint in ``<root>/uploads/<content hash>/<file name>`` once it is usable.

    Returns the stored path, to be made the active model. Raises ValueError (naming `file_name`)
    when it cannot be read or does not fit `data`; nothing is then left behind.
    """
    def check(target: Path) -> None:
        _, meta = load_checkpoint(target)
        try:
            check_compatible(meta, data)
        except ValueError as err:
            raise ValueError(f"{target.name} does not fit the active dataset: {err}") from None

    return _keep_if_usable(root, file_name, blob, check)


def accept_unlearned(root: str | Path, file_name: str, blob: bytes, original_meta: ModelMeta) -> Path:
    """Store a checkpoint unlearned by other code (from the active model) once it loads into the
    active model's architecture: safetensors, or a ``.pt`` state dict of tensors (weights only),
    with or without studio metadata. Raises ValueError with a one-line reason otherwise (wrong
    architecture: the mismatching keys are named); nothing is then left behind."""
    return _keep_if_usable(root, file_name, blob, lambda target: load_external(target, original_meta))
