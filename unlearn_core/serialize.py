"""Strict-JSON conversion of results (NaN and infinity become null; arrays become lists)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch


def to_jsonable(value: Any) -> Any:
    """`value` with NaN / infinity as None, numpy and tensors as lists: strict JSON."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return to_jsonable(value.tolist())
    return value
