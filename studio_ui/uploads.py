"""Uploaded checkpoints: kept in the workspace under the user's own file name, checked before use.

A checkpoint becomes the active model only after it loads (safetensors, validated metadata,
finite weights) and fits the active dataset; otherwise a ValueError names the user's file (not a
hashed copy) and the copy is removed again.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

from unlearn_core.data import SplitDataset
from unlearn_core.models import load_checkpoint
from unlearn_core.models.defaults import check_compatible


def safe_file_name(name: str) -> str:
    """`name` reduced to a plain file name of letters, digits, ``._-`` (never a path)."""
    base = re.sub(r"[^\w .-]", "_", Path(name.replace("\\", "/")).name).lstrip(".")[-100:]
    return base or "checkpoint.safetensors"


def accept_checkpoint(root: str | Path, file_name: str, blob: bytes, data: SplitDataset) -> Path:
    """Store an uploaded checkpoint in ``<root>/uploads/<content hash>/<file name>`` once it is usable.

    Returns the stored path, to be made the active model. Raises ValueError (naming `file_name`)
    when it cannot be read or does not fit `data`; nothing is then left behind.
    """
    folder = Path(root) / "uploads" / hashlib.sha256(blob).hexdigest()[:16]
    target = folder / safe_file_name(file_name)
    created = not folder.exists()
    try:
        if not target.exists():
            folder.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blob)
        _, meta = load_checkpoint(target)
        try:
            check_compatible(meta, data)
        except ValueError as err:
            raise ValueError(f"{target.name} does not fit the active dataset: {err}") from None
    except ValueError:
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return target
