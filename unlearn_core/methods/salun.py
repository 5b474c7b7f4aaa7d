"""SalUn: saliency-masked random labelling. Only the weights most salient for D_f move.

Paper: Fan, Liu, Zhang, Wei, Wong, Liu, "SalUn: Empowering Machine Unlearning via Gradient-based
Weight Saliency in Both Image Classification and Generation", ICLR 2024; official code
OPTML-Group/Unlearn-Saliency.

Algorithm:
1. Saliency: s = |Σ_{D_f} ∇θ CE| per weight entry (model in eval mode); mask M = top γ of all
   entries in one global ranking (γ = 50%), via `unlearn_core.localize` (localizer ``salun``).
2. Random labels with masked updates: D_f relabelled at random and D_r with true labels, mixed
   and shuffled; CE, SGD (momentum 0.9, weight decay 5e-4), cosine schedule, the gradient
   multiplied by M, so unselected weights stay at θ_o bitwise (BatchNorm statistics still adapt).

Deviations: as in this project's Random labels baseline (shared loss `common.random_label_loss`),
the random label is always a wrong class and D_f and D_r are mixed (SalUn's CIFAR-100 variant;
its CIFAR-10 code runs a D_f pass then a D_r pass per epoch, with labels that may be right);
the saliency uses the summed per-sample loss (SalUn sums batch means: same ranking up to a
constant); the rate follows the shared loop's cosine schedule (with weight decay 5e-4, SalUn's
value), where SalUn's code keeps it constant over these epochs; defaults scaled to digits (SalUn
CIFAR-10: 10 epochs, lr 0.013, batch 256).

Documentation (defaults with their measurements, deviations): docs/methods.md#salun.
"""

from __future__ import annotations

from typing import ClassVar

from unlearn_core.localize import localize
from unlearn_core.methods.base import MethodConfig, RunContext, UnlearnData, UnlearnResult, param
from unlearn_core.methods.common import batch_size_param, epochs_param, lr_param, random_label_finetune
from unlearn_core.methods.registry import register_method
from unlearn_core.models import SplitClassifier


class SalUnConfig(MethodConfig):
    caveats: ClassVar[str] = (
        "Over-forgets non-IID forget sets and concept sets. For sample forgetting use DEL or fine-tune."
    )
    caveat_results: ClassVar[tuple[str, ...]] = ("digits-random_0.1@2_5", "shapes-concept_color_yellow")
    budget: float = param(0.5, "Share of weight entries that may change (highest |gradient| on D_f)",
                          min=0.0, max=1.0, paper="0.5")
    epochs: int = epochs_param(3, "D_f ∪ D_r (as the Random labels baseline)", paper="10 (CIFAR-10)")
    lr: float = lr_param(0.02, "SGD, cosine schedule", paper="0.013 (CIFAR-10; constant rate)")
    batch_size: int = batch_size_param(64, paper="256")


@register_method(
    title="SalUn (saliency-masked random labels)",
    paper="Fan et al., SalUn: Empowering Machine Unlearning via Gradient-based Weight Saliency, ICLR 2024",
    touches="the top-γ weights by |gradient| on D_f; reads D_f and D_r",
    localized=True,
)
def salun(model: SplitClassifier, data: UnlearnData, config: SalUnConfig, ctx: RunContext) -> UnlearnResult:
    """Relabel D_f at random and train with D_r, updating only the weights most salient for D_f."""
    ctx.report(0, 1, "computing saliency")
    mask = localize(model, data, localizer="salun", budget=config.budget, device=ctx.device, seed=ctx.seed,
                    should_stop=ctx.should_stop)
    random_label_finetune(model, data, config, ctx, label="SalUn", grad_mask=mask.masks)
    return UnlearnResult(model, mask=mask.masks, artifacts={"localization": mask.summary()})
