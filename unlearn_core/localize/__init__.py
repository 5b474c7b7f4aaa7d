"""Localization: which parameters matter for a forget set, as masks under a global budget.

- `score_parameters`: weighted gradient (DEL), gradient magnitude (SalUn), weight magnitude.
- `build_mask` / `Mask`: global top-α ranking at parameter or channel granularity, layer-order
  and random controls, a per-layer summary for heatmaps; `mask_overlap` (Jaccard).
- `localize`: from a localizer name (``del``, ``salun``, ``magnitude``, ``criticality``,
  ``random``, ``shallowest``, ``deepest``) to a mask.
- `partial_pgd` / `attack_features`: Partial-PGD on penultimate features (Layer Attack Unlearning).
"""

from unlearn_core.localize.feature_attack import FeatureAttack, attack_features, feature_scale, partial_pgd
from unlearn_core.localize.localizers import LOCALIZERS, Localizer, get_localizer, localize
from unlearn_core.localize.masks import (
    GRANULARITIES,
    LayerSummary,
    Mask,
    aggregate,
    build_mask,
    channel_scores,
    layer_order_mask,
    mask_overlap,
    random_scores,
    top_fraction,
)
from unlearn_core.localize.scores import CRITERIA, score_parameters

__all__ = [
    "CRITERIA",
    "GRANULARITIES",
    "LOCALIZERS",
    "FeatureAttack",
    "LayerSummary",
    "Localizer",
    "Mask",
    "aggregate",
    "attack_features",
    "build_mask",
    "channel_scores",
    "feature_scale",
    "get_localizer",
    "layer_order_mask",
    "localize",
    "mask_overlap",
    "partial_pgd",
    "random_scores",
    "score_parameters",
    "top_fraction",
]
