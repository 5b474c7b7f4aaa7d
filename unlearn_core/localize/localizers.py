"""Named localizers: from a name to a mask, in one code path so that they can be compared.

| name          | scores                                   | on            | default granularity |
|---------------|------------------------------------------|---------------|---------------------|
| del           | weighted gradient |θ ⊙ ∇θ CE| (DEL)      | D_f           | channel             |
| salun         | gradient magnitude |∇θ CE| (SalUn)       | D_f           | parameter           |
| magnitude     | weight magnitude |θ|                     | no data       | parameter           |
| criticality   | weighted gradient, data-agnostic         | whole train   | channel             |
| random        | seeded random (control)                  | no data       | parameter           |
| shallowest    | whole tensors from the input side        | no data       | (tensors)           |
| deepest       | whole tensors from the head side         | no data       | (tensors)           |
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from unlearn_core.forget import UnlearnData
from unlearn_core.localize.masks import GRANULARITIES, Mask, build_mask
from unlearn_core.localize.scores import score_parameters
from unlearn_core.progress import StopFn, never_stop


@dataclass(frozen=True)
class Localizer:
    """How a localizer scores parameters: criterion, which examples, default granularity."""

    name: str
    title: str
    criterion: str | None  # a scores.CRITERIA name, or None for score-free controls
    examples: str | None  # "forget", "train" or None (no data)
    granularity: str
    help: str


LOCALIZERS: dict[str, Localizer] = {
    loc.name: loc
    for loc in (
        Localizer("del", "DEL (weighted gradient, channels)", "weighted_grad", "forget", "channel",
                  "Channels whose weights times gradients on the forget set are largest (DEL)."),
        Localizer("salun", "SalUn (gradient saliency)", "grad", "forget", "parameter",
                  "Entries with the largest gradient magnitude on the forget set (SalUn)."),
        Localizer("magnitude", "Weight magnitude", "weight", None, "parameter",
                  "Entries with the largest |weight|; looks at no data."),
        Localizer("criticality", "Data-agnostic criticality", "weighted_grad", "train", "channel",
                  "DEL's weighted gradient over the whole train set instead of the forget set."),
        Localizer("random", "Random (control)", None, None, "parameter",
                  "A seeded random selection: the control for any localizer."),
        Localizer("shallowest", "Shallowest layers (control)", None, None, "parameter",
                  "Whole tensors from the input side until the budget is spent."),
        Localizer("deepest", "Deepest layers (control)", None, None, "parameter",
                  "Whole tensors from the head side (head first) until the budget is spent."),
    )
}


def get_localizer(name: str) -> Localizer:
    """The localizer called `name`, or a ValueError listing the known ones."""
    if name not in LOCALIZERS:
        raise ValueError(f"unknown localizer {name!r}; use one of {', '.join(LOCALIZERS)}")
    return LOCALIZERS[name]


def localize(
    model: nn.Module,
    data: UnlearnData,
    *,
    localizer: str,
    granularity: str | None = None,
    budget: float,
    device: torch.device,
    seed: int = 0,
    batch_size: int = 128,
    should_stop: StopFn = never_stop,
) -> Mask:
    """Score `model`'s parameters with `localizer` and keep the top `budget` fraction.

    Only the examples the localizer needs are read
    (D_f for del / salun, the whole train set for criticality, nothing for the controls).
    `granularity` None means the localizer's default. The model is not changed.
    """
    loc = get_localizer(localizer)
    gran = granularity or loc.granularity
    if gran not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {', '.join(GRANULARITIES)}; got {gran!r}")
    scores = None
    if loc.criterion is not None:
        x = y = None
        if loc.examples == "forget":
            x, y = data.x_forget, data.y_forget
        elif loc.examples == "train":
            x, y = data.dataset.train.x, data.dataset.train.y
        scores = score_parameters(model, x, y, loc.criterion, device=device, batch_size=batch_size,
                                  should_stop=should_stop)
    mask = build_mask(model, scores, localizer=localizer, granularity=gran, budget=budget, seed=seed)
    mask.info["criterion"] = loc.criterion
    mask.info["examples"] = loc.examples
    return mask
