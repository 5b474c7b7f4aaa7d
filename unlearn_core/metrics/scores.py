"""Summary scores: gaps to the retrained model, parameter change, backdoor attack success.

Inputs `m` / `m_r` are a `ModelEval`, its `headline()` dict or any mapping with the keys
``forget_acc``, ``retain_acc``, ``test_acc`` and ``mia_efficacy`` (fractions in [0, 1]).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from unlearn_core.metrics.mia import at_chance

MIA_ATTACK = "mia_attack_acc"


def _value(m: Any, key: str) -> float:
    value = m[key] if isinstance(m, Mapping) else getattr(m, key)
    return float("nan") if value is None else float(value)


GAP_KEYS = ("forget_acc", "mia_efficacy", "retain_acc", "test_acc")


def avg_gap(m: Any, m_r: Any, keys: tuple[str, ...] = GAP_KEYS) -> float:
    """SalUn's average gap to Retrain in percentage points (lower is better).

    Mean of |UA - UA_r|, |MIA - MIA_r|, |RA - RA_r|, |TA - TA_r| x 100, with UA = 1 - forget
    accuracy (so |UA - UA_r| = |FA - FA_r|) and MIA the MIA-efficacy. NaN if any term is NaN.
    `keys` restricts it to some of those terms (`avg_gap_informative`).
    """
    return float(100.0 * np.mean([abs(_value(m, k) - _value(m_r, k)) for k in keys]))


def avg_gap_informative(m: Any, m_r: Any) -> float:
    """`avg_gap` without MIA-efficacy where its attack is at chance on either model (`m` / `m_r`
    carry ``mia_attack_acc``; see `mia.at_chance`): a gap in noise says nothing about forgetting."""
    accs = [x.get(MIA_ATTACK) if isinstance(x, Mapping) else getattr(x, MIA_ATTACK, None) for x in (m, m_r)]
    noisy = any(at_chance(None if a is None else float(a)) for a in accs)
    return avg_gap(m, m_r, tuple(k for k in GAP_KEYS if not (noisy and k == "mia_efficacy")))


def tug_of_war(m: Any, m_r: Any) -> float:
    """Tug-of-War (Zhao et al. 2024): (1-|FA-FA_r|)(1-|RA-RA_r|)(1-|TA-TA_r|), in [0, 1], 1 = like Retrain."""
    out = 1.0
    for key in ("forget_acc", "retain_acc", "test_acc"):
        out *= 1.0 - abs(_value(m, key) - _value(m_r, key))
    return float(out)


def params_changed_frac(model_a: nn.Module, model_b: nn.Module, atol: float = 0.0) -> float:
    """Fraction of parameter entries (not buffers) whose values differ by more than `atol`.

    Parameters are matched by name; both models must have the same parameter names and shapes.
    """
    if atol < 0:
        raise ValueError(f"atol must be >= 0; got {atol}")
    params_a = dict(model_a.named_parameters())
    params_b = dict(model_b.named_parameters())
    if params_a.keys() != params_b.keys():
        only = sorted(params_a.keys() ^ params_b.keys())
        raise ValueError(f"the models have different parameters, e.g. {only[0]!r}")
    changed = total = 0
    with torch.no_grad():
        for name, a in params_a.items():
            b = params_b[name]
            if a.shape != b.shape:
                raise ValueError(f"parameter {name!r} has shape {tuple(a.shape)} vs {tuple(b.shape)}")
            diff = (a.detach().cpu().double() - b.detach().cpu().double()).abs()
            changed += int((diff > atol).sum())
            total += a.numel()
    return changed / total if total else float("nan")


def backdoor_asr(logits_triggered: torch.Tensor, target: int, y: torch.Tensor | None = None) -> float:
    """Attack success rate: share of triggered images predicted as the `target` class.

    The images should come from non-target classes; pass their true labels `y` to drop any
    target-class image. NaN when no image is left.
    """
    pred = logits_triggered.argmax(1)
    if y is not None:
        if len(y) != len(pred):
            raise ValueError(f"{len(pred)} logits but {len(y)} labels")
        pred = pred[y != target]
    if len(pred) == 0:
        return float("nan")
    return float((pred == target).float().mean())
