"""Random labels (RL): fine-tune on D_f relabelled with random wrong classes, together with D_r.

Papers: Golatkar, Achille, Soatto, "Eternal Sunshine of the Spotless Net", CVPR 2020 (the idea);
Graves, Nagisetty, Ganesh, "Amnesiac Machine Learning", AAAI 2021 (labels from the other
classes); the "RL" baseline of SalUn (Fan et al., ICLR 2024), whose code this follows.

Algorithm: D_f (with its labels replaced) and D_r are concatenated and shuffled; each batch's
forget rows get a fresh uniformly random label from the classes other than the true one; the
model is trained with cross-entropy, SGD (momentum 0.9, weight decay 5e-4), cosine schedule.

Deviations: SalUn's CIFAR-10 code runs a pass over D_f then a pass over D_r per epoch and draws
labels that may equal the true one; here the sets are mixed (SalUn's CIFAR-100 variant) and the
random label is always wrong (Amnesiac), which forgets faster on small data; the rate follows the
shared loop's cosine schedule, where SalUn's code keeps it constant over these epochs.

Documentation (defaults with their measurements, deviations): docs/methods.md#random_labels.
"""

from __future__ import annotations

from typing import ClassVar

from unlearn_core.methods.base import MethodConfig, RunContext, UnlearnData, UnlearnResult
from unlearn_core.methods.common import batch_size_param, epochs_param, lr_param, random_label_finetune
from unlearn_core.methods.registry import register_method
from unlearn_core.models import SplitClassifier


class RandomLabelsConfig(MethodConfig):
    caveats: ClassVar[str] = (
        "Over-forgets non-IID forget sets (MIA-efficacy far above retraining's): a class-forgetting baseline. For"
        " sample forgetting use DEL or fine-tune."
    )
    caveat_results: ClassVar[tuple[str, ...]] = ("digits-random_0.1@2_5",)
    epochs: int = epochs_param(3, "D_f ∪ D_r", paper="10 (SalUn, CIFAR-10)")
    lr: float = lr_param(0.02, "SGD, cosine schedule", paper="0.01-0.02 (SalUn, tuned; constant rate)")
    batch_size: int = batch_size_param(64, paper="256")


@register_method(
    title="Random labels",
    paper="Golatkar et al., CVPR 2020; Graves et al., AAAI 2021 (RL baseline of SalUn, ICLR 2024)",
    touches="all parameters; reads D_r and D_f",
)
def random_labels(model: SplitClassifier, data: UnlearnData, config: RandomLabelsConfig, ctx: RunContext) -> UnlearnResult:
    """Train on D_r with true labels and on D_f with random wrong labels, mixed."""
    random_label_finetune(model, data, config, ctx, label="random labels")
    return UnlearnResult(model)

