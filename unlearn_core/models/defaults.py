"""The original models: the shipped defaults of the built-in datasets, and training one with a recipe.

Default checkpoints live in ``unlearn_core/assets/`` and are made by ``python -m unlearn_core make-assets`` from
the recipes in `unlearn_core.recipes`; if one is missing the app trains it (with progress) instead
of failing. The model a run starts from is `unlearn_core.runs.start_model.obtain_model`.
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

import torch

from unlearn_core.data import SplitDataset, load_dataset
from unlearn_core.models.base import SplitClassifier
from unlearn_core.models.checkpoint import ModelMeta, load_checkpoint, save_checkpoint
from unlearn_core.models.registry import build_model
from unlearn_core.progress import ProgressFn, StopFn, never_stop, no_progress
from unlearn_core.recipes import recipe_for
from unlearn_core.train import TrainConfig, TrainLog, accuracy, predict_logits, train_classifier

ASSETS = Path(str(resources.files("unlearn_core") / "assets"))  # package data: the shipped checkpoints

# The built-in datasets and the architecture of their shipped model.
DEFAULT_MODELS: dict[str, str] = {"digits": "small_cnn", "shapes": "small_cnn"}


def train_model(
    data: SplitDataset,
    arch: str,
    config: TrainConfig,
    *,
    device: torch.device,
    arch_options: dict[str, object] | None = None,
    progress: ProgressFn = no_progress,
    should_stop: StopFn = never_stop,
) -> tuple[SplitClassifier, ModelMeta, TrainLog]:
    """Build `arch` for `data` (seeded), train it with `config`, and describe it in a ModelMeta."""
    torch.manual_seed(config.seed)
    c, h, _ = data.input_shape
    model = build_model(arch, num_classes=data.num_classes, in_channels=c, image_size=h, **(arch_options or {}))
    log = train_classifier(
        model, data.train.x, data.train.y, config, device=device, progress=progress, should_stop=should_stop
    )
    test_acc = accuracy(predict_logits(model, data.test.x, device=device), data.test.y)
    meta = ModelMeta(
        arch=arch,
        num_classes=data.num_classes,
        input_shape=data.input_shape,
        dataset=data.name,
        dataset_options=dict(data.options),
        class_names=list(data.class_names),
        arch_options=dict(arch_options or {}),
        recipe=config.to_dict(),
        seed=config.seed,
        metrics={"test_acc": test_acc, "train_time_s": log.time_s},
    )
    return model.cpu(), meta, log


def default_checkpoint_path(dataset: str) -> Path:
    """Where the shipped default model of a built-in dataset lives."""
    if dataset not in DEFAULT_MODELS:
        raise ValueError(f"no default model for {dataset!r}; defaults exist for {', '.join(DEFAULT_MODELS)}")
    return ASSETS / f"{dataset}_{DEFAULT_MODELS[dataset]}.safetensors"


def make_default(dataset: str, *, device: torch.device, progress: ProgressFn = no_progress,
                 should_stop: StopFn = never_stop, path: Path | None = None) -> tuple[SplitClassifier, ModelMeta]:
    """Train the default model of a built-in dataset with its recipe (seed 0) and save it."""
    data = load_dataset(dataset)
    start = time.perf_counter()
    model, meta, _ = train_model(
        data, DEFAULT_MODELS[dataset], recipe_for(dataset, DEFAULT_MODELS[dataset]),
        device=device, progress=progress, should_stop=should_stop,
    )
    meta.note = f"default model, trained in {time.perf_counter() - start:.1f} s by `python -m unlearn_core make-assets`"
    save_checkpoint(model, path or default_checkpoint_path(dataset), meta)
    return model, meta


def load_default(dataset: str, *, device: torch.device, progress: ProgressFn = no_progress,
                 should_stop: StopFn = never_stop) -> tuple[SplitClassifier, ModelMeta]:
    """The shipped default model; trained (and saved) on the spot if the asset is missing."""
    from filelock import FileLock

    path = default_checkpoint_path(dataset)
    if path.exists():
        return load_checkpoint(path)
    with FileLock(f"{path}.lock"):  # two processes missing the asset: one trains it, the other loads it
        if path.exists():
            return load_checkpoint(path)
        return make_default(dataset, device=device, progress=progress, should_stop=should_stop)


def check_compatible(meta: ModelMeta, data: SplitDataset) -> None:
    """Raise ValueError if a model cannot run on `data` (classes or input shape differ)."""
    if meta.num_classes != data.num_classes:
        raise ValueError(
            f"the model predicts {meta.num_classes} classes but {data.name} has {data.num_classes}"
        )
    if tuple(meta.input_shape) != tuple(data.input_shape):
        raise ValueError(
            f"the model expects images of shape {tuple(meta.input_shape)} (C, H, W) but {data.name} "
            f"has {tuple(data.input_shape)}"
        )
