"""Per-sample drill-down: one forget sample under the original, unlearned and retrained models,
and the ranked list of forget samples the unlearned model still remembers.

"Still remembered" ranks forget samples by how much more confident the unlearned model is in
the true label than the retrained model is: the retrained model never saw them, so any excess
is what unlearning left behind.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from unlearn_core.concepts.attribution import PixelAttribution, pixel_attributions
from unlearn_core.inspect.membership import OFFERED, SampleScores, membership_score

IG_STEPS = 64  # Integrated-Gradients steps of the drill-down's pixel maps
_PARTS = ("maps", "targets", "delta", "relative_delta")


@dataclass
class SampleView:
    """One sample's row per model, plus each model's pixel IG map of the true label."""

    train_index: int
    label: int
    rows: dict[str, dict[str, float | int]]  # model -> prediction, confidence, loss, membership_score
    attributions: dict[str, PixelAttribution]


def sample_rows(scores: dict[str, SampleScores], position: int) -> dict[str, dict[str, float | int]]:
    """The drill-down figures of the forget sample at `position` of the inspection sample, per model.

    ``membership_score`` is `membership.membership_score` against that model's test losses;
    ``scaled_confidence`` and ``entropy`` are the membership view's two attack scores (present
    when the scores hold them)."""
    rows = {}
    for who, s in scores.items():
        if not 0 <= position < len(s.forget_loss):
            raise ValueError(f"sample position {position} is outside the {len(s.forget_loss)} forget samples")
        rows[who] = {
            "prediction": int(s.forget_pred[position]),
            "confidence": float(s.forget_confidence[position]),
            "loss": float(s.forget_loss[position]),
            "membership_score": float(membership_score(s.forget_loss[position : position + 1], s.nonmember_loss)[0]),
            **{score: float(s.forget(score)[position]) for score in OFFERED if _has(s, score)},
        }
    return rows


def _has(scores: SampleScores, score: str) -> bool:
    try:
        scores.forget(score)
    except ValueError:
        return False
    return True


def sample_view(models: dict[str, nn.Module], scores: dict[str, SampleScores], forget_idx: np.ndarray,
                x: torch.Tensor, y: torch.Tensor, position: int, *, device: torch.device,
                n_steps: int = IG_STEPS) -> SampleView:
    """Everything the drill-down shows for forget sample `position` (image `x` [C, H, W], label `y`):
    `sample_rows` and each model's Integrated-Gradients map of the true label (captum)."""
    label = int(y)
    maps = pixel_attributions(models, x[None], label, device=device, n_steps=n_steps)
    return SampleView(int(forget_idx[position]), label, sample_rows(scores, position), maps)


def attributions_to_arrays(attributions: dict[str, PixelAttribution]) -> dict[str, np.ndarray]:
    """A drill-down's IG maps as flat named arrays (``<model>.<part>``), e.g. to keep them in a
    safetensors file; `attributions_from_arrays` reads them back."""
    return {f"{who}.{part}": np.asarray(getattr(pa, part)) for who, pa in attributions.items() for part in _PARTS}


def attributions_from_arrays(arrays: dict[str, np.ndarray]) -> dict[str, PixelAttribution]:
    """The IG maps `attributions_to_arrays` flattened, per model in their stored order."""
    models = dict.fromkeys(name.rsplit(".", 1)[0] for name in arrays)
    return {who: PixelAttribution(*(arrays[f"{who}.{part}"] for part in _PARTS)) for who in models}


def still_remembered(scores: dict[str, SampleScores], forget_idx: np.ndarray, k: int = 20) -> list[dict[str, float | int]]:
    """Forget samples where the unlearned model's true-label confidence most exceeds the retrained
    model's, largest excess first (only positive excesses; at most `k`)."""
    if "unlearned" not in scores or "retrain" not in scores:
        raise ValueError("the still-remembered list needs the unlearned and the retrained model")
    unlearned, retrain = scores["unlearned"].forget_confidence, scores["retrain"].forget_confidence
    excess = unlearned - retrain
    order = [int(i) for i in np.argsort(-excess, kind="stable") if excess[i] > 0][: max(0, k)]
    return [{"position": i, "train_index": int(forget_idx[i]), "excess": float(excess[i]),
             "unlearned_confidence": float(unlearned[i]), "retrain_confidence": float(retrain[i])} for i in order]
