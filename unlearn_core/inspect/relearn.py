"""Erasure beyond the outputs, part 2: the relearn test (Lynch et al. 2024, "Eight Methods to
Evaluate Robust Unlearning in LLMs"; Golatkar et al. 2020 for relearn time).

Finetune a copy of each model for `steps` small full-batch SGD steps on a few forget samples
(`shots`) and record forget accuracy on the *other* forget samples after every step. A model
that relearns much faster than the retrained one had hidden the data, not removed it.

The caller's models are never modified (each run trains a deep copy). BatchNorm statistics stay
fixed while finetuning (a batch of a few images of one class would otherwise overwrite them),
and the run is seeded, so the curve is reproducible. Training goes through the one training
loop (`train.fit`); its per-epoch callback evaluates after each step (one step per epoch).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from unlearn_core.train import Batches, TrainConfig, accuracy, fit, predict_logits

DEFAULT_STEPS = 10
DEFAULT_SHOTS = 16
DEFAULT_LR = 0.01
RELEARN_LEVEL = 0.9  # "relearned" = forget accuracy on the held-out forget samples reaches 90%


@dataclass
class RelearnResult:
    """Forget accuracy after 0..steps finetuning steps, per model (fractions)."""

    steps: list[int]
    curves: dict[str, list[float]]
    shots: int
    n_eval: int
    lr: float
    seed: int

    def steps_to(self, who: str, level: float) -> int | None:
        """First step at which `who`'s forget accuracy reaches `level` (None if never)."""
        for step, acc in zip(self.steps, self.curves[who], strict=True):
            if acc >= level:
                return step
        return None

    def to_dict(self) -> dict[str, object]:
        return {"steps": self.steps, **self.curves, "shots": self.shots, "n_eval": self.n_eval, "lr": self.lr,
                "seed": self.seed}


def relearn_summary(relearn: Mapping[str, Any], level: float = RELEARN_LEVEL) -> dict[str, dict[str, Any]]:
    """The relearn test's two figures per model present in `relearn` (`RelearnResult.to_dict`), the
    ones the Compare page and the HTML report both show: ``steps_to_level`` (the first step whose
    forget accuracy reaches `level`, None if none does) and ``final`` (the accuracy after the last
    step), each with its text (``steps_text``: "3 of 10" / "not within 10"; ``final_text``: "93.2%")."""
    steps = list(relearn["steps"])
    last = steps[-1] if steps else 0
    out: dict[str, dict[str, Any]] = {}
    for who in ("original", "unlearned", "retrain"):
        curve = relearn.get(who)
        if curve is None:
            continue
        reached = next((int(step) for step, acc in zip(steps, curve, strict=True) if acc >= level), None)
        final = float(curve[-1])
        out[who] = {"steps_to_level": reached, "final": final, "level": level,
                    "steps_text": f"{reached} of {last}" if reached is not None else f"not within {last}",
                    "final_text": f"{100 * final:.1f}%"}
    return out


def split_shots(forget_idx: np.ndarray, shots: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of forget indices into `shots` finetuning samples and the rest (evaluation)."""
    if shots < 1:
        raise ValueError(f"shots must be at least 1; got {shots}")
    if len(forget_idx) < shots + 1:
        raise ValueError(f"the relearn test needs more than {shots} forget samples; the sample has {len(forget_idx)}")
    order = np.random.default_rng(seed).permutation(len(forget_idx))
    return np.sort(forget_idx[order[:shots]]), np.sort(forget_idx[order[shots:]])


def _config(steps: int, lr: float, shots: int, seed: int) -> TrainConfig:
    return TrainConfig(epochs=steps, lr=lr, batch_size=shots, schedule="constant", weight_decay=0.0, seed=seed)


def relearn_curve(model: nn.Module, x_train: torch.Tensor, y_train: torch.Tensor, x_eval: torch.Tensor,
                  y_eval: torch.Tensor, *, steps: int = DEFAULT_STEPS, lr: float = DEFAULT_LR, seed: int = 0,
                  device: torch.device) -> list[float]:
    """Forget accuracy on (`x_eval`, `y_eval`) before and after each of `steps` full-batch SGD steps
    on (`x_train`, `y_train`), on a deep copy of `model`: `steps + 1` values."""
    config = _config(steps, lr, len(x_train), seed)  # validates steps and lr
    work = copy.deepcopy(model)
    curve = [accuracy(predict_logits(work, x_eval, device=device), y_eval)]

    def after_step(_event: object) -> None:
        curve.append(accuracy(predict_logits(work, x_eval, device=device), y_eval))

    fit(work, Batches(x_train, y_train, batch_size=len(x_train)), config, device=device, progress=after_step,
        progress_label="relearn", eval_mode=True)
    return curve


def relearn_test(models: dict[str, nn.Module], x_train: torch.Tensor, y_train: torch.Tensor, x_eval: torch.Tensor,
                 y_eval: torch.Tensor, *, steps: int = DEFAULT_STEPS, lr: float = DEFAULT_LR, seed: int = 0,
                 device: torch.device) -> RelearnResult:
    """`relearn_curve` for every named model on the same samples with the same seed."""
    curves = {who: relearn_curve(m, x_train, y_train, x_eval, y_eval, steps=steps, lr=lr, seed=seed, device=device)
              for who, m in models.items()}
    return RelearnResult(list(range(steps + 1)), curves, len(x_train), len(x_eval), lr, seed)


@torch.no_grad()
def estimate_relearn_seconds(model: nn.Module, x_train: torch.Tensor, x_eval: torch.Tensor, *, steps: int,
                             n_models: int, device: torch.device) -> float:
    """A rough time for `relearn_test` before running it: one timed forward pass over the
    finetuning and evaluation images, a training step counted as three forward passes."""
    work = copy.deepcopy(model).eval().to(device)
    start = time.perf_counter()
    work(x_train.to(device))
    train_fwd = time.perf_counter() - start
    start = time.perf_counter()
    predict_logits(work, x_eval, device=device)
    eval_fwd = time.perf_counter() - start
    return n_models * (steps * 3 * train_fwd + (steps + 1) * eval_fwd)
