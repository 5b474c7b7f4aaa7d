"""The training loop: accuracy, progress, cancellation, divergence, masks, freezing, determinism."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from unlearn_core import train as train_module
from unlearn_core.data import SplitDataset
from unlearn_core.models import build_model
from unlearn_core.progress import Cancelled, ProgressEvent
from unlearn_core.recipes import recipe_for
from unlearn_core.train import (
    Batches,
    PairedBatches,
    TrainConfig,
    TrainingDiverged,
    accuracy,
    extract_features,
    fit,
    per_class_accuracy,
    predict_logits,
    train_classifier,
)

SHORT = TrainConfig(epochs=1, lr=0.05, batch_size=64, seed=0)


def _model(seed: int = 0, width: int = 8) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model("small_cnn", num_classes=10, in_channels=1, image_size=16, width=width)


@pytest.fixture(scope="module")
def few(digits: SplitDataset) -> tuple[torch.Tensor, torch.Tensor]:
    """A 256-image slice of digits: enough for a few optimiser steps."""
    return digits.train.x[:256], digits.train.y[:256]


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_digits_recipe_reaches_95_percent(digits, digits_model, cpu) -> None:
    model, meta = digits_model
    acc = accuracy(predict_logits(model, digits.test.x, device=cpu), digits.test.y)
    assert acc >= 0.95
    assert meta.metrics["test_acc"] == pytest.approx(acc)
    assert meta.recipe == recipe_for("digits", "small_cnn", seed=0, epochs=8).to_dict()
    assert meta.input_shape == (1, 16, 16) and meta.num_classes == 10


def test_recipe_overrides() -> None:
    config = recipe_for("digits", "small_cnn", seed=3, epochs=2)
    assert (config.seed, config.epochs, config.lr) == (3, 2, 0.05)
    assert recipe_for("nowhere", "small_cnn").epochs == 15  # the generic recipe


def test_config_validation() -> None:
    for bad in ({"epochs": 0}, {"lr": 0.0}, {"lr": float("nan")}, {"batch_size": 0}, {"optimizer": "rmsprop"}):
        with pytest.raises(ValueError):
            TrainConfig(**bad)


def test_progress_is_monotone_and_ends_at_total(few, cpu, monkeypatch) -> None:
    monkeypatch.setattr(train_module, "BATCH_PROGRESS_S", float("inf"))  # epoch ends only (a loaded machine is slow)
    events: list[ProgressEvent] = []
    config = replace(SHORT, epochs=3)
    log = train_classifier(_model(), *few, config, device=cpu, progress=events.append)
    steps = [e.step for e in events]
    assert len(events) == 3 and steps == sorted(steps) and len(set(steps)) == 3
    assert events[-1].step == events[-1].total == 3 * math.ceil(256 / 64) == log.steps
    assert all(e.total == events[0].total for e in events)
    assert all("loss" in e.metrics for e in events) and len(log.epoch_losses) == 3


def test_cancellation_raises_and_restores_flags(few, cpu) -> None:
    model = _model()
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Cancelled):
        fit(model, Batches(*few, batch_size=32), SHORT, device=cpu, should_stop=stop,
            trainable=lambda n: n.startswith("head."))
    assert len(calls) == 3  # checked before every step, stopped at the third
    assert all(p.requires_grad for p in model.parameters())
    assert not model.training


def test_nan_loss_raises_training_diverged(few, cpu) -> None:
    with pytest.raises(TrainingDiverged, match=r"the loss became nan at step 1; lower the learning rate"):
        fit(_model(), Batches(*few, batch_size=64), SHORT, device=cpu,
            loss_fn=lambda m, b: m(b[0]).sum() * float("nan"))
    with pytest.raises(TrainingDiverged, match="lower the learning rate"):
        fit(_model(), Batches(*few, batch_size=16), replace(SHORT, lr=1e6, epochs=3), device=cpu)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_grad_mask_zeros_stay_bitwise_unchanged(few, cpu, optimizer: str) -> None:
    model = _model()
    before = _snapshot(model)
    gen = torch.Generator().manual_seed(0)
    masks = {n: (torch.rand(p.shape, generator=gen) > 0.5).float() for n, p in model.named_parameters()
             if n.endswith("weight")}
    config = replace(SHORT, epochs=2, optimizer=optimizer, lr=0.01 if optimizer == "adam" else 0.05,
                     momentum=0.9, weight_decay=5e-3)
    fit(model, Batches(*few, batch_size=32), config, device=cpu, grad_mask=masks)
    after = _snapshot(model)
    for name, mask in masks.items():
        frozen = mask == 0
        assert torch.equal(after[name][frozen], before[name][frozen]), name
        assert not torch.equal(after[name][~frozen], before[name][~frozen]), name
    # unmasked parameters (biases) still train
    assert not torch.equal(after["head.bias"], before["head.bias"])


def test_trainable_freezes_the_others_bitwise(few, cpu) -> None:
    model = _model()
    before = _snapshot(model)
    fit(model, Batches(*few, batch_size=32), replace(SHORT, weight_decay=5e-3), device=cpu,
        trainable=lambda n: n.startswith("head."))
    after = _snapshot(model)
    for name in before:
        same = torch.equal(before[name], after[name])
        assert same != name.startswith("head."), name
    with pytest.raises(ValueError, match="no parameter is trainable"):
        fit(model, Batches(*few, batch_size=32), SHORT, device=cpu, trainable=lambda n: False)


def test_eval_mode_keeps_batchnorm_statistics(few, cpu) -> None:
    model = _model()
    stats = {n: b.clone() for n, b in model.named_buffers()}
    fit(model, Batches(*few, batch_size=32), SHORT, device=cpu, eval_mode=True,
        trainable=lambda n: n.startswith("head."))
    assert all(torch.equal(stats[n], b) for n, b in model.named_buffers())


def test_training_is_deterministic_under_a_seed(few, cpu) -> None:
    runs = []
    for _ in range(2):
        model = _model(seed=5)
        log = train_classifier(model, *few, replace(SHORT, epochs=2, seed=11), device=cpu)
        runs.append((_snapshot(model), log.epoch_losses))
    assert runs[0][1] == runs[1][1]
    assert all(torch.equal(runs[0][0][n], runs[1][0][n]) for n in runs[0][0])
    other = _model(seed=5)
    train_classifier(other, *few, replace(SHORT, epochs=2, seed=12), device=cpu)
    assert not torch.equal(_snapshot(other)["head.weight"], runs[0][0]["head.weight"])


def test_trains_channels_last_on_the_cpu_and_hands_back_contiguous_weights(few, cpu, tmp_path) -> None:
    """`fit` trains the convolutions in the channels-last layout on the CPU (faster there:
    benchmarks/train_layout.py) and gives the model back in the default layout, which safetensors
    needs to save it; the same Parameter objects throughout (an optimizer of the caller's holds them)."""
    from safetensors.torch import save_file

    model = _model(width=8)
    conv = model.features[1][0].weight  # 8 -> 8 channels: the two layouts differ in memory
    seen: list[bool] = []

    def loss(m: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        seen.append(conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous())
        return train_module.cross_entropy_loss(m, batch)

    fit(model, Batches(*few, batch_size=64), SHORT, device=cpu, loss_fn=loss)
    assert seen and all(seen)
    assert model.features[1][0].weight is conv
    assert all(t.is_contiguous() for t in model.state_dict().values())
    save_file(model.state_dict(), tmp_path / "model.safetensors")  # raises on a non-contiguous tensor


def test_predicts_channels_last_on_a_copy(few, cpu) -> None:
    """`predict_logits` runs a channels-last copy on the CPU: the logits are the model's own (to
    float rounding) and the caller's model keeps its layout and its Parameter objects."""
    model = _model(width=8).eval()
    conv = model.features[1][0].weight
    with torch.no_grad():
        expected = model(few[0])
    got = predict_logits(model, few[0], device=cpu)
    assert torch.allclose(got, expected, atol=1e-5)
    assert model.features[1][0].weight is conv and conv.is_contiguous()


def test_paired_batches_cycle_the_secondary(few) -> None:
    x, y = few
    paired = PairedBatches(Batches(x, y, batch_size=32), Batches(x[:40], y[:40], batch_size=16))
    batches = list(paired.epoch(torch.Generator().manual_seed(0)))
    assert len(batches) == len(paired) == 8
    assert all(len(b) == 4 and len(b[0]) == 32 for b in batches)
    with pytest.raises(ValueError, match="empty"):
        Batches(x[:0], y[:0], batch_size=8)
    with pytest.raises(ValueError, match="same length"):
        Batches(x, y[:10], batch_size=8)


def test_predict_and_extract_shapes(digits, cpu) -> None:
    model = _model(width=8).train()
    x = digits.test.x[:70]
    logits = predict_logits(model, x, device=cpu, batch_size=32)
    feats = extract_features(model, x, device=cpu, batch_size=32)
    assert logits.shape == (70, 10) and feats.shape == (70, 16)
    assert logits.device.type == "cpu" and logits.dtype == torch.float32
    assert model.training  # the mode is restored
    assert torch.allclose(model.eval().head(feats), logits, atol=1e-5)
    assert torch.allclose(predict_logits(model, x, batch_size=7), logits, atol=1e-5)


def test_accuracy_and_per_class() -> None:
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 2.0, 0.0], [2.0, 0.0, 0.0]])
    y = torch.tensor([0, 1, 2, 1])
    assert accuracy(logits, y) == 0.5
    assert accuracy(logits, y, np.array([0, 1])) == 1.0
    assert accuracy(logits, y, np.array([2, 3])) == 0.0
    assert math.isnan(accuracy(logits, y, np.array([], dtype=np.int64)))
    assert math.isnan(accuracy(logits[:0], y[:0]))
    per_class = per_class_accuracy(logits, y, 4)
    assert per_class[:3] == [1.0, 0.5, 0.0] and math.isnan(per_class[3])


def test_pick_device() -> None:
    from unlearn_core.device import available_devices, pick_device

    assert available_devices()[-1] == "cpu"
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type == available_devices()[0] == pick_device(None).type
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="not available here; available: .*cpu"):
            pick_device("cuda")
