"""Small helpers shared by two or more unlearning methods (keep additions small and clearly named).

- `frozen_copy`: a detached, eval-mode copy of a model to use as a teacher / reference.
- `kd_loss`: temperature-scaled knowledge-distillation KL(teacher || student).
- `random_wrong_labels`: a uniformly random label different from the true one, per sample.
- `tagged_union`: D_f and D_r in one tensor set with a 0/1 "is forget" tag per row.
- `random_label_loss`: CE where tagged (forget) rows get fresh random wrong labels every batch.
- `StageProgress`: maps the progress of several consecutive `fit` calls onto one monotone bar.
- `head_on_features`: the head alone as a model on precomputed features (frozen-backbone training).
- `epochs_param`, `lr_param`, `batch_size_param`: the training-parameter block of a config
  (shared ranges and wording), and `train_config`: the one TrainConfig built from it.
- `run_fit`: one call of the shared training loop on the run's device, progress and cancellation.
- `random_label_finetune`: Random labels' training, which SalUn reuses with its saliency mask.
"""

from __future__ import annotations

import copy
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.methods.base import RunContext, UnlearnData, param
from unlearn_core.models import ModelMeta, SplitClassifier
from unlearn_core.progress import ProgressEvent, ProgressFn
from unlearn_core.train import Batches, LossFn, PairedBatches, TrainConfig, fit


class TrainingParams(Protocol):
    """A method config with the shared training block (see `epochs_param` and friends)."""

    epochs: int
    lr: float
    batch_size: int


def epochs_param(default: int, over: str, *, paper: str | None = None, note: str = "", auto: bool = False) -> Any:
    """The `epochs` field: passes over `over` (e.g. "D_r"), 1 to 500 (0 too when `auto`: resolved at run time)."""
    return param(default, f"Epochs over {over}" + (f". {note}" if note else ""), min=0 if auto else 1, max=500,
                 paper=paper)


def lr_param(default: float, optimizer: str, *, paper: str | None = None, note: str = "", auto: bool = False) -> Any:
    """The `lr` field: the learning rate of `optimizer` (e.g. "SGD, cosine schedule"), 1e-7 to 1 (or 0 = auto)."""
    return param(default, f"Learning rate ({optimizer})" + (f". {note}" if note else ""), min=0.0 if auto else 1e-7,
                 max=1.0, paper=paper)


def batch_size_param(default: int, *, paper: str | None = None, what: str = "Mini-batch size", least: int = 1,
                     auto: bool = False) -> Any:
    """The `batch_size` field, `least` (1) to 4096 (or 0 = auto)."""
    return param(default, what, min=0 if auto else least, max=4096, paper=paper)


def train_config(config: TrainingParams, ctx: RunContext, **settings: Any) -> TrainConfig:
    """The TrainConfig of a method's training: its epochs / lr / batch size, the run seed, and
    `settings` (optimizer, schedule, weight decay, ...) over the shared loop's defaults
    (SGD, momentum 0.9, weight decay 5e-4, cosine schedule)."""
    return TrainConfig(**{"epochs": config.epochs, "lr": config.lr, "batch_size": config.batch_size,
                          "seed": ctx.seed, **settings})


def run_fit(
    model: nn.Module,
    batches: Batches | PairedBatches,
    recipe: TrainConfig,
    ctx: RunContext,
    *,
    label: str,
    progress: ProgressFn | None = None,
    **fit_options: Any,
) -> None:
    """Train `model` in place with the shared loop (`train.fit`) on the run's device, stopping when
    the run is cancelled; progress goes to `progress` (e.g. a `StageProgress` stage) or else to the
    run's bar, labelled `label`. `fit_options`: `fit`'s loss_fn, trainable, grad_mask, eval_mode."""
    fit(model, batches, recipe, device=ctx.device, progress=progress or ctx.progress, should_stop=ctx.should_stop,
        progress_label=label, **fit_options)


# Optimiser settings several methods share.
ADAM_CONSTANT: dict[str, Any] = {"optimizer": "adam", "weight_decay": 0.0, "schedule": "constant"}


def seeded_build(meta: ModelMeta, seed: int) -> SplitClassifier:
    """A freshly initialised model of `meta`'s architecture, seeded, leaving the global RNG as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return meta.build()


def frozen_copy(model: nn.Module) -> nn.Module:
    """A deep copy of `model` in eval mode with gradients off (a fixed teacher or reference)."""
    teacher = copy.deepcopy(model).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """T² · KL(softmax(teacher/T) ‖ softmax(student/T)), averaged over the batch.

    The T² factor keeps gradient magnitudes comparable across temperatures (Hinton et al. 2015).
    """
    t = temperature
    log_p_student = F.log_softmax(student_logits / t, dim=1)  # [N, K]
    log_p_teacher = F.log_softmax(teacher_logits.detach() / t, dim=1)  # [N, K]
    return F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True) * t * t


def random_wrong_labels(y: torch.Tensor, num_classes: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """For each label, a uniformly random *other* class (same device and dtype as `y`)."""
    if num_classes < 2:
        raise ValueError("random wrong labels need at least 2 classes")
    shift = torch.randint(1, num_classes, y.shape, generator=generator, device="cpu").to(y.device)
    return (y + shift) % num_classes


def tagged_union(
    x_forget: torch.Tensor, y_forget: torch.Tensor, x_retain: torch.Tensor, y_retain: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x, y, is_forget): D_f rows first, then D_r rows; `is_forget` is a bool tag per row."""
    x = torch.cat([x_forget, x_retain])
    y = torch.cat([y_forget, y_retain])
    tag = torch.cat([torch.ones(len(y_forget), dtype=torch.bool), torch.zeros(len(y_retain), dtype=torch.bool)])
    return x, y, tag


def random_label_loss(num_classes: int, seed: int) -> LossFn:
    """CE on batches ``(x, y, is_forget)`` whose forget rows are relabelled at random each batch.

    The new label is a uniformly random wrong class, drawn from a generator seeded with `seed`
    (so runs are reproducible). Used by Random labels and SalUn.
    """
    generator = torch.Generator().manual_seed(seed)

    def loss(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, y, is_forget = batch
        y = torch.where(is_forget, random_wrong_labels(y, num_classes, generator), y)
        return F.cross_entropy(model(x), y)

    return loss


class StageProgress:
    """One monotone progress bar over consecutive stages (e.g. several `fit` calls).

    ``stage(steps, label)`` returns a callback for the next stage: its events are shifted by the
    steps of the stages before it, counted against the overall total given at construction, and
    carry `label` as their message (the stage's own metrics are kept).
    """

    def __init__(self, progress: ProgressFn, total: int) -> None:
        self.progress, self.total, self.offset = progress, total, 0

    def stage(self, steps: int, label: str) -> ProgressFn:
        offset = self.offset
        self.offset += steps

        def report(event: ProgressEvent) -> None:
            step = offset + min(event.step, steps)
            self.progress(ProgressEvent(step, self.total, label, dict(event.metrics)))

        return report


def head_on_features(model: nn.Module) -> nn.Module:
    """A SplitClassifier whose input is `model`'s penultimate features: ``Identity -> model.head``.

    The head module is shared, not copied, so training it trains `model`'s head. With the
    backbone frozen and in eval mode, training this on `extract_features(model, x)` gives the same
    updates as training `model` on `x` (without re-running the backbone every step).
    """
    return SplitClassifier(nn.Identity(), model.head)  # type: ignore[arg-type]


def random_label_finetune(
    model: SplitClassifier,
    data: UnlearnData,
    config: TrainingParams,
    ctx: RunContext,
    *,
    label: str,
    grad_mask: dict[str, torch.Tensor] | None = None,
) -> None:
    """Random labels' training, in place: D_f with fresh random wrong labels mixed with D_r.

    SGD with the shared loop's defaults (cosine schedule, weight decay 5e-4); SalUn passes its
    saliency mask as `grad_mask`.
    """
    x, y, is_forget = tagged_union(data.x_forget, data.y_forget, data.x_retain, data.y_retain)
    run_fit(model, Batches(x, y, is_forget, batch_size=config.batch_size), train_config(config, ctx), ctx, label=label,
            loss_fn=random_label_loss(data.num_classes, ctx.seed), grad_mask=grad_mask)
