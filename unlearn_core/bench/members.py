"""What a seed study keeps of each member model: its figures and its per-example forget scores."""

from __future__ import annotations

from typing import Any

from unlearn_core.forget import UnlearnData
from unlearn_core.metrics import ModelEval, scaled_confidence

MEMBER_KEYS = ("mia_attack_acc",)  # beside the headline: whether MIA-efficacy has any signal


def member_figures(evaluation: ModelEval, data: UnlearnData) -> dict[str, Any]:
    """A member's headline figures (plus `MEMBER_KEYS`) and the scaled confidence log(p_y/(1-p_y))
    of each forget example, in the forget set's index order (`epsilon.scaled_confidence`)."""
    y_forget = data.dataset.train.y[data.forget.forget_idx]
    values = {**evaluation.headline(), **{k: evaluation.to_dict()[k] for k in MEMBER_KEYS}}
    return {"values": values, "forget_scores": scaled_confidence(evaluation.forget_logits, y_forget).tolist()}
