"""Orchestration of one unlearning run: resolve the forget set, get (or reuse) the retrained
oracle, run the method, evaluate original / unlearned / retrained, and store everything.

The CLI's ``unlearn`` and ``bench`` commands and the Unlearn page all go through `unlearn_run`,
so what a page shows can be reproduced from the command line with the same spec.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from .data import SplitDataset
from .forget import resolve
from .methods import MethodConfig, RunContext, RunOutcome, UnlearnData, UnlearnResult, get_method, run_method
from .metrics import HEADLINE_KEYS, ModelEval, compare_to_retrain, evaluate_model, params_changed_frac
from .models import ModelMeta, SplitClassifier, save_checkpoint, state_digest
from .progress import ProgressEvent, ProgressFn, StopFn, never_stop, no_progress
from .serialize import to_jsonable
from .store import MODEL_FILE, Entry, Workspace

HEADLINE = HEADLINE_KEYS  # the metrics table's headline (metrics/definitions.py)


@dataclass
class RunRecord:
    """A finished, stored run: its JSON summary, the three evaluations and the method's output."""

    summary: dict[str, Any]
    entry: Entry | None
    unlearned: SplitClassifier
    retrained: SplitClassifier
    evals: dict[str, ModelEval]
    artifacts: dict[str, Any] = field(default_factory=dict)
    mask: dict[str, torch.Tensor] | None = None


def forget_digest(indices: np.ndarray) -> str:
    """A short hash of the exact forget indices (two specs resolving alike share a retrain)."""
    return hashlib.sha256(np.asarray(indices, dtype=np.int64).tobytes()).hexdigest()[:16]


def retrain_key(meta: ModelMeta, forget_idx: np.ndarray, seed: int) -> str:
    """The cache key of a retrained oracle: dataset, architecture, recipe, forget set and seed."""
    recipe = {k: v for k, v in meta.recipe.items() if k != "seed"}
    parts = [
        "retrain", meta.dataset, json.dumps(meta.dataset_options, sort_keys=True), meta.arch,
        json.dumps(meta.arch_options, sort_keys=True), json.dumps(recipe, sort_keys=True),
        forget_digest(forget_idx), str(seed),
    ]
    return "|".join(parts)


def get_retrained(
    model: SplitClassifier,
    meta: ModelMeta,
    data: UnlearnData,
    *,
    seed: int,
    device: torch.device,
    workspace: Workspace | None,
    progress: ProgressFn = no_progress,
    should_stop: StopFn = never_stop,
) -> tuple[SplitClassifier, float, bool]:
    """The retrained oracle for this forget set: (model, training time, reused-from-workspace)."""
    key = retrain_key(meta, data.forget.forget_idx, seed)
    if workspace is not None:
        found = workspace.find("model", key)
        if found is not None:
            retrained, _ = workspace.load_model(found.id)
            return retrained, float(found.info.get("time_s", math.nan)), True
    ctx = RunContext(device, meta, seed, progress, should_stop)
    outcome = run_method("retrain", model, data, ctx)
    if workspace is not None:
        retrain_meta = ModelMeta(**{**meta.__dict__, "note": f"retrained without {data.forget.spec}", "seed": seed})
        workspace.save_model(
            outcome.result.model, retrain_meta, f"retrain {meta.dataset} {data.forget.spec} seed {seed}",
            key=key, info={"time_s": outcome.time_s, "forget": data.forget.spec},
        )
    return outcome.result.model, outcome.time_s, False


def _phase(progress: ProgressFn, name: str) -> ProgressFn:
    def forward(event: ProgressEvent) -> None:
        progress(ProgressEvent(event.step, event.total, f"{name} | {event.message}", event.metrics))

    return forward


def unlearn_run(
    dataset: SplitDataset,
    model: SplitClassifier,
    meta: ModelMeta,
    forget_spec: str,
    method: str,
    config: MethodConfig | None = None,
    *,
    seed: int = 0,
    device: torch.device,
    workspace: Workspace | None = None,
    progress: ProgressFn = no_progress,
    should_stop: StopFn = never_stop,
    model_name: str | None = None,
) -> RunRecord:
    """Run `method` on `model` to forget `forget_spec`, evaluate against retraining, store it.

    The run is written to `workspace` (when given) before it is returned; the retrained oracle
    is computed once per (dataset, recipe, forget set, seed) and reused from the workspace.
    """
    info = get_method(method)
    config = config if config is not None else info.config_cls()
    forget = resolve(forget_spec, dataset, seed)
    data = UnlearnData(dataset, forget)
    retrained, retrain_time, reused = get_retrained(
        model, meta, data, seed=seed, device=device, workspace=workspace,
        progress=_phase(progress, "retrain oracle"), should_stop=should_stop,
    )
    if method == "retrain":  # the oracle is the result: train it once
        outcome = RunOutcome(method, config, UnlearnResult(retrained), retrain_time)
    else:
        ctx = RunContext(device, meta, seed, _phase(progress, info.title), should_stop)
        outcome = run_method(method, model, data, ctx, config)
    progress(ProgressEvent(0, 1, "evaluating original, unlearned and retrained models"))
    evals = {
        "original": evaluate_model(model, data, device=device, seed=seed),
        "unlearned": evaluate_model(outcome.result.model, data, device=device, seed=seed),
        "retrain": evaluate_model(retrained, data, device=device, seed=seed),
    }
    progress(ProgressEvent(1, 1, "evaluation done"))
    versus = compare_to_retrain(evals["unlearned"], evals["retrain"])
    summary: dict[str, Any] = {
        "method": method,
        "dataset": dataset.name,
        "model": meta.arch,
        "forget": forget_spec,
        "seed": seed,
        "n_forget": forget.n_forget,
        "n_retain": forget.n_retain,
        **{name: ev.headline() for name, ev in evals.items()},
        "avg_gap": versus["avg_gap"],
        "time_s": outcome.time_s,
        "retrain_time_s": retrain_time,
        "params_changed_frac": params_changed_frac(model, outcome.result.model),
        "time_ratio": outcome.time_s / retrain_time if retrain_time and retrain_time > 0 else None,
        "retrain_reused": reused,
        "retrain_key": retrain_key(meta, forget.forget_idx, seed),
        "versus_retrain": versus,
        "details": {name: ev.to_dict() for name, ev in evals.items()},
        "config": config.to_dict(),
        "device": str(device),
        "model_name": model_name or meta.arch,
        "model_digest": state_digest(model),
        "class_names": list(dataset.class_names),
    }
    record = RunRecord(summary, None, outcome.result.model, retrained, evals,
                       outcome.result.artifacts, outcome.result.mask)
    if workspace is not None:
        record.entry = store_run(workspace, record, meta)
    return record


def store_run(workspace: Workspace, record: RunRecord, meta: ModelMeta) -> Entry:
    """Write a run (summary, unlearned model, mask, artifacts) to the workspace atomically."""
    s = record.summary
    unlearned_meta = ModelMeta(**{**meta.__dict__, "note": f"{s['method']} forgetting {s['forget']}"})
    files = {
        "result.json": lambda p: p.write_text(json.dumps(to_jsonable(s), indent=2, default=_plain)),
        MODEL_FILE: lambda p: save_checkpoint(record.unlearned, p, unlearned_meta),
    }
    if record.mask:
        files["mask.safetensors"] = lambda p: save_file(
            {k: v.detach().cpu().to(torch.uint8).contiguous() for k, v in record.mask.items()}, str(p)
        )
    tensors, plain = split_artifacts(record.artifacts)
    if tensors:
        files["artifacts.safetensors"] = lambda p: save_file(tensors, str(p))
    if plain:
        files["artifacts.json"] = lambda p: p.write_text(json.dumps(to_jsonable(plain), default=_plain))
    name = f"{s['method']} | {s['forget']} | seed {s['seed']}"
    return workspace.put("run", name, dataset=s["dataset"], info=to_jsonable(s), files=files)


def find_run(workspace: Workspace, *, dataset: str, method: str, forget: str, seed: int, model_digest: str,
             config: dict[str, Any]) -> Entry | None:
    """The newest stored run of exactly this method, settings, forget set, seed and starting model,
    so a repeated request (e.g. the guided tour) can show it instead of recomputing it."""
    for entry in workspace.list("run", dataset=dataset):
        s = entry.info
        if (s["method"], s["forget"], s["seed"], s.get("model_digest")) == (method, forget, seed, model_digest) \
                and s.get("config") == to_jsonable(config):
            return entry
    return None


def split_artifacts(artifacts: dict[str, Any], prefix: str = "") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Separate tensors / arrays (for safetensors) from plain values (for JSON), keys joined by '/'."""
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, Any] = {}
    for key, value in artifacts.items():
        name = f"{prefix}{key}"
        if isinstance(value, np.ndarray) and value.dtype != object:
            value = torch.from_numpy(value)
        if isinstance(value, torch.Tensor):
            tensors[name] = value.detach().cpu().contiguous()
        elif isinstance(value, dict):
            sub_t, sub_p = split_artifacts(value, name + "/")
            tensors.update(sub_t)
            plain.update(sub_p)
        else:
            plain[name] = value
    return tensors, plain


def load_run_artifacts(entry: Entry) -> dict[str, Any]:
    """The stored artifacts of a run, flat: '/'-joined keys to tensors or plain values."""
    from safetensors.torch import load_file

    out: dict[str, Any] = {}
    if entry.file("artifacts.safetensors").exists():
        out.update(load_file(str(entry.file("artifacts.safetensors"))))
    if entry.file("artifacts.json").exists():
        out.update(json.loads(entry.file("artifacts.json").read_text()))
    return out


def _plain(value: object) -> object:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return str(value)
