"""The one JSON encoder of the project: strict JSON for results, the registry and artifacts.

NaN and infinity become null, numpy scalars and arrays and tensors become numbers and lists,
paths become strings; anything else JSON cannot hold raises TypeError (never stored as repr).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch


def to_jsonable(value: Any) -> Any:
    """`value` with NaN / infinity as None, numpy and tensors as lists, paths as text: strict JSON."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return to_jsonable(value.tolist())
    if isinstance(value, Path):
        return str(value)
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """Strict JSON text of `value` (via `to_jsonable`); TypeError for objects JSON cannot hold."""
    return json.dumps(to_jsonable(value), allow_nan=False, default=_refuse, **kwargs)


def _refuse(value: object) -> object:
    raise TypeError(f"cannot store {type(value).__name__} as JSON")
