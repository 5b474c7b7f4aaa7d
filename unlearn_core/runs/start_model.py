"""The model a run starts from: a checkpoint file, the built-in dataset's shipped default, or a
model trained with the recipe and cached in the workspace (trained once per dataset, arch and seed).

What the CLI, the worker, the benchmarks and the seed studies start from. It lives with the runs,
not with the models, because it reads and writes the workspace's model cache.
"""

from __future__ import annotations

from pathlib import Path

import torch

from unlearn_core.data import SplitDataset, load_dataset
from unlearn_core.models import ModelMeta, SplitClassifier, load_checkpoint
from unlearn_core.models.defaults import DEFAULT_MODELS, check_compatible, load_default, train_model
from unlearn_core.progress import ProgressFn, StopFn, never_stop, no_progress
from unlearn_core.recipes import recipe_for
from unlearn_core.workspace.fingerprint import data_fingerprint
from unlearn_core.workspace.model_cache import measured_here, obtain
from unlearn_core.workspace.store import Workspace


def obtain_model(
    data: SplitDataset,
    arch: str | None = None,
    *,
    seed: int = 0,
    device: torch.device,
    checkpoint: str | Path | None = None,
    workspace: Workspace | None = None,
    progress: ProgressFn = no_progress,
    should_stop: StopFn = never_stop,
) -> tuple[SplitClassifier, ModelMeta]:
    """The original model to unlearn from: a checkpoint file, the shipped default, or one trained
    with the recipe (and kept in the workspace, so it is trained once per dataset, arch and seed).
    """
    if checkpoint is not None:
        model, meta = load_checkpoint(checkpoint)
        check_compatible(meta, data)
        return model, meta
    default_arch = DEFAULT_MODELS.get(data.name)
    arch = arch or default_arch or "small_cnn"
    if arch == default_arch and seed == 0 and data.options == load_dataset(data.name).options:
        return load_default(data.name, device=device, progress=progress, should_stop=should_stop)

    def build() -> tuple[SplitClassifier, ModelMeta, dict]:
        model, meta, log = train_model(
            data, arch, recipe_for(data.name, arch, seed), device=device, progress=progress, should_stop=should_stop
        )
        return model, meta, {"time_s": log.time_s, **measured_here(device)}

    if workspace is None:
        return build()[:2]
    key_base = f"original|{data.name}|{sorted(data.options.items())}|{arch}|{seed}"
    cached = obtain(workspace, key=f"{key_base}|data {data_fingerprint(data)}", key_base=key_base,
                    dataset=data.name, name=f"{arch} on {data.name} seed {seed}", label="original model",
                    build=build, progress=progress, should_stop=should_stop)
    return cached.model, cached.meta
