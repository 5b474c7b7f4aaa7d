"""Bring your own unlearned model: evaluate a checkpoint unlearned by other code against the
original and the retrained model on a forget set, exactly like the studio's own runs, and store
it as a run with method ``external``.

Exactly like: the same forget-set resolution, the same cached retrained oracle
(`runs.get_retrained`), the same evaluation and summary (`runs.summarize_run`) and the same
storage (`runs.store_run`), so the run
shows on Compare and in `inspect` beside the studio's runs. What cannot be known is the time the
other code took: ``time_s`` and ``time_ratio`` are None.

The checkpoint is loaded into the original model's architecture (safetensors, or a
weights-only ``.pt`` state dict), so a file without studio metadata works, and a file for
another architecture is refused with the mismatching keys named.
"""

from __future__ import annotations

from pathlib import Path

import torch

from unlearn_core.data import SplitDataset
from unlearn_core.forget import resolve
from unlearn_core.methods import UnlearnData
from unlearn_core.metrics import params_changed_frac
from unlearn_core.models import ModelMeta, SplitClassifier, load_checkpoint, state_digest
from unlearn_core.progress import ProgressFn, StopFn, never_stop, no_progress
from unlearn_core.runs.one_run import RunRecord, get_retrained, store_run, summarize_run
from unlearn_core.workspace.store import Workspace

METHOD = "external"


def load_external(path: str | Path, original_meta: ModelMeta) -> SplitClassifier:
    """The unlearned checkpoint at `path`, built as the original's architecture (ValueError /
    CheckpointMismatch with a one-line reason when it does not fit)."""
    model, _ = load_checkpoint(path, meta=original_meta)
    return model


def evaluate_external(
    dataset: SplitDataset,
    original: SplitClassifier,
    meta: ModelMeta,
    unlearned: SplitClassifier,
    forget_spec: str,
    *,
    seed: int = 0,
    device: torch.device,
    workspace: Workspace | None = None,
    checkpoint: str | None = None,
    progress: ProgressFn = no_progress,
    should_stop: StopFn = never_stop,
    run_id: str | None = None,
) -> RunRecord:
    """Evaluate `unlearned` (made elsewhere from `original`) on `forget_spec` against `original`
    and the retrained oracle; stored in `workspace` when given (under `run_id` if given), like
    `runs.unlearn_run`.

    `checkpoint` (the file's path) is recorded in the summary. Neither model is modified.
    """
    forget = resolve(forget_spec, dataset, seed)
    data = UnlearnData(dataset, forget)
    changed = params_changed_frac(original, unlearned)  # ValueError first if the parameters do not match
    oracle = get_retrained(
        original, meta, data, seed=seed, device=device, workspace=workspace, progress=progress, should_stop=should_stop,
    )
    summary, evals = summarize_run(
        dataset, original, meta, data, unlearned, oracle, method=METHOD, config={"checkpoint": checkpoint},
        time_s=None, device=device, seed=seed, progress=progress, workspace=workspace,  # the other code's time: unknown
        extra={"params_changed_frac": changed, "model_name": Path(checkpoint).name if checkpoint else "external model",
               "unlearned_digest": state_digest(unlearned), "external_checkpoint": checkpoint},
    )
    record = RunRecord(summary, None, unlearned, oracle.model, evals)
    if workspace is not None:
        record.entry = store_run(workspace, record, meta, run_id=run_id)
    return record
