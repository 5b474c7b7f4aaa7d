"""One training loop for everything that trains (original models, retraining, every method),
plus batched inference and accuracy.

The loop knows nothing about the model or the method: it draws batches from a `Batches`
source, asks `loss_fn(model, batch)` for a loss, and supports frozen parameters, gradient
masks (localized methods), a progress callback and cooperative cancellation.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.device import on_device
from unlearn_core.progress import ProgressEvent, ProgressFn, StopFn, check_stop, never_stop, no_progress

BATCH_PROGRESS_S = 1.0  # within an epoch, report progress at most this often (a live bar on long epochs)


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite; the message suggests what to change."""


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser, schedule and seed of one training run (a "recipe")."""

    epochs: int = 15
    lr: float = 0.05
    batch_size: int = 64
    optimizer: Literal["sgd", "adam"] = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: Literal["cosine", "constant"] = "cosine"
    final_lr_fraction: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1; got {self.epochs}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number; got {self.lr}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; got {self.batch_size}")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam'; got {self.optimizer!r}")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' or 'constant'; got {self.schedule!r}")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class Batches:
    """Shuffled mini-batches over tensors that share their first dimension."""

    def __init__(self, *tensors: torch.Tensor, batch_size: int, shuffle: bool = True) -> None:
        if not tensors or len(tensors[0]) == 0:
            raise ValueError("cannot train on an empty set")
        if any(len(t) != len(tensors[0]) for t in tensors):
            raise ValueError("all tensors of a batch source must have the same length")
        self.tensors = tensors
        self.batch_size = batch_size
        self.shuffle = shuffle

    def __len__(self) -> int:
        return math.ceil(len(self.tensors[0]) / self.batch_size)

    def epoch(self, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, ...]]:
        n = len(self.tensors[0])
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        for start in range(0, n, self.batch_size):
            idx = order[start : start + self.batch_size]
            yield tuple(t[idx] for t in self.tensors)


class PairedBatches:
    """Each step yields a batch of `primary` followed by a batch of `secondary` (cycled).

    Used by methods that mix two sets per step, e.g. NegGrad+ (retain and forget batches).
    """

    def __init__(self, primary: Batches, secondary: Batches) -> None:
        self.primary, self.secondary = primary, secondary

    def __len__(self) -> int:
        return len(self.primary)

    def epoch(self, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, ...]]:
        second = self.secondary.epoch(generator)
        for batch in self.primary.epoch(generator):
            try:
                other = next(second)
            except StopIteration:
                second = self.secondary.epoch(generator)
                other = next(second)
            yield batch + other


LossFn = Callable[[nn.Module, tuple[torch.Tensor, ...]], torch.Tensor]


def cross_entropy_loss(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Plain cross-entropy on the first two tensors of a batch (images, labels)."""
    return F.cross_entropy(model(batch[0]), batch[1])


@dataclass
class TrainLog:
    """What a training run did: losses per epoch, steps, wall time."""

    epoch_losses: list[float] = field(default_factory=list)
    steps: int = 0
    time_s: float = 0.0


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's global RNG (dropout, init) and return a CPU generator for shuffling."""
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    return torch.Generator().manual_seed(seed)


def fit(
    model: nn.Module,
    batches: Batches | PairedBatches,
    config: TrainConfig,
    *,
    device: torch.device,
    loss_fn: LossFn = cross_entropy_loss,
    trainable: Callable[[str], bool] | None = None,
    grad_mask: dict[str, torch.Tensor] | None = None,
    progress: ProgressFn = no_progress,
    should_stop: StopFn = never_stop,
    progress_label: str = "training",
    eval_mode: bool = False,
) -> TrainLog:
    """Train `model` in place on `device` and return the log; the model ends on the device it came on,
    its weights in the default (contiguous) layout (it trains channels-last on the CPU: `_fast_layout`).

    `trainable(name)` selects the parameters that train (others are frozen); `grad_mask`
    multiplies the gradient (weight decay included) of the named parameters, so entries with
    mask 0 stay bitwise unchanged. `eval_mode` keeps BatchNorm statistics fixed (head-only
    finetuning). Raises TrainingDiverged on a non-finite loss and Cancelled when asked to stop.
    """
    start = time.perf_counter()
    generator = seed_everything(config.seed)
    home = _home_device(model)
    model.to(device, memory_format=_fast_layout(device))
    named = [(n, p) for n, p in model.named_parameters() if trainable is None or trainable(n)]
    if not named:
        raise ValueError("no parameter is trainable")
    masks = {n: m.to(device=device, dtype=p.dtype) for n, p in named if grad_mask and (m := grad_mask.get(n)) is not None}
    params = [p for _, p in named]
    frozen = [p for n, p in model.named_parameters() if trainable is not None and not trainable(n)]
    saved_flags = [p.requires_grad for p in frozen]
    for p in frozen:
        p.requires_grad_(False)
    if config.optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum)
    else:
        opt = torch.optim.Adam(params, lr=config.lr)
    total = config.epochs * len(batches)
    log = TrainLog()
    last_report = time.perf_counter()
    try:
        model.train(not eval_mode)
        for epoch in range(config.epochs):
            running, count = 0.0, 0
            for batch in batches.epoch(generator):
                check_stop(should_stop)
                batch = tuple(t.to(device, non_blocking=True) for t in batch)
                for group in opt.param_groups:
                    group["lr"] = _lr_at(config, log.steps, total)
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model, batch)
                if not torch.isfinite(loss):
                    raise TrainingDiverged(
                        f"{progress_label}: the loss became {loss.item()} at step {log.steps + 1}; "
                        "lower the learning rate"
                    )
                loss.backward()
                _apply_decay_and_masks(named, masks, config.weight_decay)
                opt.step()
                log.steps += 1
                running += loss.item() * len(batch[0])
                count += len(batch[0])
                if time.perf_counter() - last_report >= BATCH_PROGRESS_S and log.steps < (epoch + 1) * len(batches):
                    last_report = time.perf_counter()  # a live bar on long epochs; epoch ends report below
                    batch_no = log.steps - epoch * len(batches)
                    progress(ProgressEvent(log.steps, total, f"{progress_label}: epoch {epoch + 1}/{config.epochs}, "
                                           f"batch {batch_no}/{len(batches)}", {"loss": running / count}))
            log.epoch_losses.append(running / max(count, 1))
            last_report = time.perf_counter()
            progress(
                ProgressEvent(
                    log.steps, total, f"{progress_label}: epoch {epoch + 1}/{config.epochs}",
                    {"loss": log.epoch_losses[-1]},
                )
            )
    finally:
        for p, flag in zip(frozen, saved_flags, strict=True):
            p.requires_grad_(flag)
        model.eval()
        model.to(home, memory_format=torch.contiguous_format)  # safetensors stores contiguous tensors only
    log.time_s = time.perf_counter() - start
    return log


def _fast_layout(device: torch.device) -> torch.memory_format:
    """The memory layout convolution weights train (`fit`) and predict (`predict_logits`,
    `extract_features`) in on `device`: channels-last on the CPU, where oneDNN's convolutions and
    max-pooling are faster in it (`benchmarks/train_layout.py` measures both layouts: the small CNN
    on digits and shapes, the ResNet-18 on shapes, 1 and 2 threads); the default layout elsewhere
    (not measured on GPUs here)."""
    return torch.channels_last if device.type == "cpu" else torch.preserve_format


def _home_device(model: nn.Module) -> torch.device | None:
    """The one device all of `model`'s tensors are on (None for a model spread over several)."""
    devices = {t.device for t in (*model.parameters(), *model.buffers())}
    return devices.pop() if len(devices) == 1 else None


def _lr_at(config: TrainConfig, step: int, total: int) -> float:
    if config.schedule == "constant" or total <= 1:
        return config.lr
    low = config.lr * config.final_lr_fraction
    return low + 0.5 * (config.lr - low) * (1 + math.cos(math.pi * step / total))


def _apply_decay_and_masks(
    named: Sequence[tuple[str, torch.Tensor]], masks: dict[str, torch.Tensor], weight_decay: float
) -> None:
    """Add L2 weight decay to the gradients, then zero masked-out entries (decay included)."""
    with torch.no_grad():
        for name, p in named:
            if p.grad is None:
                continue
            if weight_decay:
                p.grad.add_(p, alpha=weight_decay)
            if name in masks:
                p.grad.mul_(masks[name])


def train_classifier(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    config: TrainConfig,
    *,
    device: torch.device,
    progress: ProgressFn = no_progress,
    should_stop: StopFn = never_stop,
    **fit_options: object,
) -> TrainLog:
    """Cross-entropy training of `model` in place on images `x` and labels `y`."""
    return fit(
        model, Batches(x, y, batch_size=config.batch_size), config, device=device,
        progress=progress, should_stop=should_stop, **fit_options,
    )


@torch.no_grad()
def predict_logits(
    model: nn.Module, x: torch.Tensor, *, device: torch.device | None = None, batch_size: int | None = None
) -> torch.Tensor:
    """Logits [N, K] on the CPU, computed in eval mode in batches on `device` (`batch_size` images
    each; default: `_inference_batch`)."""
    return _batched(model, x, device, batch_size, lambda m, xb: m(xb))


@torch.no_grad()
def extract_features(
    model: nn.Module, x: torch.Tensor, *, device: torch.device | None = None, batch_size: int | None = None
) -> torch.Tensor:
    """Penultimate features [N, D] (`model.features(x)`) on the CPU, in eval mode (batches as in
    `predict_logits`)."""
    return _batched(model, x, device, batch_size, lambda m, xb: m.features(xb))


def _inference_batch(device: torch.device) -> int:
    """Images per inference batch on `device`: 64 on the CPU, where a small batch's activations stay
    in cache (faster per image than 512 on the shapes models; `benchmarks/train_layout.py` measures
    both), 512 on an accelerator, where large batches keep it busy."""
    return 64 if device.type == "cpu" else 512


def _batched(
    model: nn.Module,
    x: torch.Tensor,
    device: torch.device | None,
    batch_size: int | None,
    fn: Callable[[nn.Module, torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    device = device or next(model.parameters()).device
    batch_size = batch_size or _inference_batch(torch.device(device))
    model = on_device(model, device)
    layout = _fast_layout(device)
    if layout != torch.preserve_format and any(p.dim() == 4 for p in model.parameters()):
        model = copy.deepcopy(model).to(memory_format=layout)  # a copy: the caller's model is often shared
    was_training = model.training
    model.eval()
    outs = [fn(model, x[i : i + batch_size].to(device)).float().cpu() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    if not outs:
        return torch.empty(0)
    return torch.cat(outs)


def accuracy(logits: torch.Tensor, y: torch.Tensor, indices: np.ndarray | None = None) -> float:
    """Share of correct argmax predictions, optionally on a subset; NaN for an empty set."""
    if indices is not None:
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        logits, y = logits[idx], y[idx]
    if len(y) == 0:
        return float("nan")
    return float((logits.argmax(1) == y).float().mean())


def per_class_accuracy(logits: torch.Tensor, y: torch.Tensor, num_classes: int) -> list[float]:
    """Accuracy of each true class (NaN for a class with no samples)."""
    pred = logits.argmax(1)
    out = []
    for c in range(num_classes):
        sel = y == c
        out.append(float((pred[sel] == c).float().mean()) if sel.any() else float("nan"))
    return out
