"""Progress within an epoch: a live bar on long epochs (the tour's runs), never a duplicate step."""

from __future__ import annotations

import torch

from unlearn_core import train
from unlearn_core.models import build_model
from unlearn_core.progress import ProgressEvent
from unlearn_core.train import TrainConfig, train_classifier


def _events(digits, every_s: float, monkeypatch) -> list[ProgressEvent]:
    monkeypatch.setattr(train, "BATCH_PROGRESS_S", every_s)
    torch.manual_seed(0)
    model = build_model("small_cnn", num_classes=10, in_channels=1, image_size=16, width=4)
    events: list[ProgressEvent] = []
    config = TrainConfig(epochs=2, lr=0.05, batch_size=64, seed=0)
    train_classifier(model, digits.train.x[:256], digits.train.y[:256], config, device=torch.device("cpu"),
                     progress=events.append)
    return events


def test_reports_every_batch_when_batches_are_slow(digits, monkeypatch) -> None:
    """With a zero interval every batch reports: 2 epochs x 4 batches = steps 1..8, each once."""
    events = _events(digits, 0.0, monkeypatch)
    assert [e.step for e in events] == list(range(1, 9))
    assert all(e.total == 8 for e in events)
    assert events[1].message == "training: epoch 1/2, batch 2/4"  # a batch event
    assert events[3].message == "training: epoch 1/2"  # the epoch's end, reported once
    assert all("loss" in e.metrics for e in events)


def test_fast_batches_report_once_per_epoch(digits, monkeypatch) -> None:
    events = _events(digits, 3600.0, monkeypatch)
    assert [e.step for e in events] == [4, 8]
