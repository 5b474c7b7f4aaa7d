"""Fine-tune: continue training the original model on the retain set only, so the forget set is
forgotten through catastrophic forgetting (Golatkar et al., 2020; the "FT" baseline of SalUn).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models import SplitClassifier
from ..train import TrainConfig, train_classifier
from .base import MethodConfig, RunContext, UnlearnData, UnlearnResult, param
from .registry import register_method


@dataclass(frozen=True)
class FinetuneConfig(MethodConfig):
    epochs: int = param(5, "Epochs over D_r", min=1, max=200, paper="10 (SalUn, CIFAR-10)")
    lr: float = param(0.1, "SGD learning rate (cosine schedule); at 0.02 fine-tuning forgot nothing of a digits "
                      "class in 5 epochs (forget-class accuracy 0.95), at 0.1 it forgot it through catastrophic "
                      "forgetting (0.05-0.38 over three seeds)", min=1e-6, max=1.0, paper="0.01-0.1 (tuned per setting)")
    batch_size: int = param(64, "Mini-batch size", min=1, max=4096)


@register_method(
    "finetune",
    title="Fine-tune",
    paper="Golatkar et al., Eternal Sunshine of the Spotless Net, CVPR 2020 (FT baseline)",
    config=FinetuneConfig,
    touches="all parameters; reads D_r only",
    needs_forget_images=False,
)
def finetune(model: SplitClassifier, data: UnlearnData, config: FinetuneConfig, ctx: RunContext) -> UnlearnResult:
    """Train the original model further on D_r with SGD and a cosine schedule."""
    train_classifier(
        model, data.x_retain, data.y_retain,
        TrainConfig(epochs=config.epochs, lr=config.lr, batch_size=config.batch_size, seed=ctx.seed),
        device=ctx.device, progress=ctx.progress, should_stop=ctx.should_stop, progress_label="fine-tune",
    )
    return UnlearnResult(model)
