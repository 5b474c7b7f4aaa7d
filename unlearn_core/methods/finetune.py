"""Fine-tune: continue training the original model on the retain set only, so the forget set is
forgotten through catastrophic forgetting (Golatkar et al., 2020; the "FT" baseline of SalUn).

Documentation (defaults with their measurements, deviations): docs/methods.md#finetune.
"""

from __future__ import annotations

from typing import ClassVar

from unlearn_core.methods.base import MethodConfig, RunContext, UnlearnData, UnlearnResult
from unlearn_core.methods.common import batch_size_param, epochs_param, lr_param, run_fit, train_config
from unlearn_core.methods.registry import register_method
from unlearn_core.models import SplitClassifier
from unlearn_core.train import Batches


class FinetuneConfig(MethodConfig):
    caveats: ClassVar[str] = (
        "Fine-tune does not forget a whole digits class at these defaults, while it forgets the larger shapes "
        "class. For class forgetting use DEL, UNSIR, Layer Attack, RFA or concept poisoning."
    )
    caveat_results: ClassVar[tuple[str, ...]] = ("digits-class_3", "shapes-class_3")
    epochs: int = epochs_param(5, "D_r", paper="10 (SalUn, CIFAR-10)")
    lr: float = lr_param(0.1, "SGD, cosine schedule", paper="0.01-0.1 (tuned per setting)",
                         note="At 0.02 fine-tuning forgot nothing of a digits class in 5 epochs; at 0.1 it "
                         "forgets it through catastrophic forgetting (docs/methods.md#finetune)")
    batch_size: int = batch_size_param(64)


@register_method(
    title="Fine-tune",
    paper="Golatkar et al., Eternal Sunshine of the Spotless Net, CVPR 2020 (FT baseline)",
    touches="all parameters; reads D_r only",
    needs_forget_images=False,
)
def finetune(model: SplitClassifier, data: UnlearnData, config: FinetuneConfig, ctx: RunContext) -> UnlearnResult:
    """Train the original model further on D_r with SGD and a cosine schedule."""
    run_fit(model, Batches(data.x_retain, data.y_retain, batch_size=config.batch_size), train_config(config, ctx), ctx,
            label="fine-tune")
    return UnlearnResult(model)
