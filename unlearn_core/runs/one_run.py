"""Orchestration of one unlearning run: resolve the forget set, run the method, get (or reuse) the
retrained oracle, evaluate original / unlearned / retrained, and store everything.

The CLI's ``unlearn`` and ``bench`` commands and the Unlearn page all go through `unlearn_run`,
so what a page shows can be reproduced from the command line with the same spec.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from unlearn_core.data import SplitDataset
from unlearn_core.forget import ForgetSet, resolve
from unlearn_core.memory import track_peak_memory
from unlearn_core.methods import (
    MethodConfig,
    RunContext,
    RunOutcome,
    UnlearnData,
    UnlearnResult,
    get_method,
    run_method,
)
from unlearn_core.methods.registry import MethodInfo
from unlearn_core.metrics import (
    HEADLINE_KEYS,
    ModelEval,
    avg_gap_informative,
    compare_to_retrain,
    evaluate_model,
    params_changed_frac,
)
from unlearn_core.models import ModelMeta, SplitClassifier, load_checkpoint, state_digest
from unlearn_core.models.defaults import check_compatible
from unlearn_core.progress import ProgressEvent, ProgressFn, StopFn, never_stop, no_progress
from unlearn_core.serialize import to_jsonable
from unlearn_core.workspace.fingerprint import data_fingerprint
from unlearn_core.workspace.model_cache import measured_here, obtain
from unlearn_core.workspace.store import MODEL_FILE, Entry, Workspace
from unlearn_core.workspace.studies import stored_noise_floor

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


def retrain_key(meta: ModelMeta, forget_idx: np.ndarray, seed: int, fingerprint: str) -> str:
    """The cache key of a retrained oracle: dataset, architecture, recipe, forget set, seed and the
    data's content `fingerprint` (`fingerprint.data_fingerprint`), so changed data is never served
    a stale oracle."""
    return f"{_retrain_key_base(meta, forget_idx, seed)}|data {fingerprint}"


def _retrain_key_base(meta: ModelMeta, forget_idx: np.ndarray, seed: int) -> str:
    recipe = {k: v for k, v in meta.recipe.items() if k != "seed"}
    parts = [
        "retrain", meta.dataset, json.dumps(meta.dataset_options, sort_keys=True), meta.arch,
        json.dumps(meta.arch_options, sort_keys=True), json.dumps(recipe, sort_keys=True),
        forget_digest(forget_idx), str(seed),
    ]
    return "|".join(parts)


@dataclass
class Oracle:
    """The retrained oracle of a run: the model, its training time and where that came from."""

    model: SplitClassifier
    time_s: float
    reused: bool
    reason: str
    waited_s: float = 0.0
    measured: dict[str, Any] = field(default_factory=dict)


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
) -> Oracle:
    """The retrained oracle for this forget set, computed once per workspace (see `model_cache`)."""
    ctx = RunContext(device, meta, seed, progress, should_stop)

    def build() -> tuple[SplitClassifier, ModelMeta, dict]:
        outcome = run_method("retrain", model, data, ctx)
        retrain_meta = ModelMeta(**{**meta.__dict__, "note": f"retrained without {data.forget.spec}", "seed": seed})
        measured = measured_here(device)
        return outcome.result.model, retrain_meta, {"time_s": outcome.time_s, "forget": data.forget.spec, **measured}

    if workspace is None:
        trained, _, info = build()
        return Oracle(trained, info["time_s"], False, "no workspace", measured=info)
    cached = obtain(
        workspace, key=retrain_key(meta, data.forget.forget_idx, seed, data_fingerprint(data.dataset)),
        key_base=_retrain_key_base(meta, data.forget.forget_idx, seed), dataset=meta.dataset,
        name=f"retrain {meta.dataset} {data.forget.spec} seed {seed}", label="oracle", build=build,
        progress=progress, should_stop=should_stop,
    )
    info = cached.entry.info if cached.entry is not None else {}
    return Oracle(cached.model, float(info.get("time_s", math.nan)), cached.reused, cached.reason,
                  cached.waited_s, info)


def check_supported(info: MethodInfo, forget: ForgetSet) -> None:
    """A ValueError unless method `info` can forget this kind of set (e.g. UNSIR: classes only)."""
    if not info.supports(forget.category):
        raise ValueError(f"{info.title} supports {', '.join(info.forget_categories)} forgetting, not "
                         f"{forget.category} ({forget.spec})")


def validate_run(dataset: SplitDataset, model: SplitClassifier, meta: ModelMeta, forget: ForgetSet,
                 info: MethodInfo, config: MethodConfig) -> None:
    """Refuse, before anything expensive, what cannot run: a model that does not fit the data, a
    method that does not support this forget kind, a config of another method, NaN weights."""
    check_compatible(meta, dataset)
    check_supported(info, forget)
    if not isinstance(config, info.config_cls):
        raise ValueError(f"{info.name} expects a {info.config_cls.__name__}, got {type(config).__name__}")
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ValueError(f"the model's weights contain NaN or infinity (in {name}); it cannot be unlearned")


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
    run_id: str | None = None,
    train_seed: int | None = None,
) -> RunRecord:
    """Run `method` on `model` to forget `forget_spec`, evaluate against retraining, store it.

    `seed` draws the forget set (random kinds) and the evaluation's samples; `train_seed` (default:
    `seed`) seeds the method and the retrained oracle, so a seed study (`unlearn_core.study`) runs
    one forget set at several training seeds. Everything that can be refused is refused first
    (`validate_run`). The method runs before the retrained oracle is fetched (no method reads it), so
    a concurrent run can train the oracle meanwhile. The run is written to `workspace` (when given,
    under `run_id` if given) before it is returned; the retrained oracle is computed once per (dataset
    content, recipe, forget set, training seed) and reused from the workspace.
    """
    info = get_method(method)
    config = config if config is not None else info.config_cls()
    train_seed = seed if train_seed is None else train_seed
    forget = resolve(forget_spec, dataset, seed)
    validate_run(dataset, model, meta, forget, info, config)
    data = UnlearnData(dataset, forget)

    def oracle_now() -> Oracle:
        return get_retrained(model, meta, data, seed=train_seed, device=device, workspace=workspace,
                             progress=_phase(progress, "retraining oracle"), should_stop=should_stop)

    if method == "retrain":  # the oracle is the result: train it once
        oracle = oracle_now()
        with track_peak_memory(device) as peak:
            outcome = RunOutcome(method, config, UnlearnResult(oracle.model), oracle.time_s)
    else:
        # The method first, then the oracle (no method reads it): a run started beside this one
        # (the tour's fast method) trains the oracle meanwhile, and this run then finds it stored
        # or waits only for the rest of it under the model cache's lock.
        with track_peak_memory(device) as peak:  # the method's own peak (the oracle's is its own work)
            ctx = RunContext(device, meta, train_seed, _phase(progress, info.title), should_stop)
            outcome = run_method(method, model, data, ctx, config)
        oracle = oracle_now()
    summary, evals = summarize_run(
        dataset, model, meta, data, outcome.result.model, oracle, method=method, config=config.to_dict(),
        time_s=outcome.time_s, device=device, seed=seed, progress=progress, train_seed=train_seed, workspace=workspace,
        extra={**peak.to_dict(), "model_name": model_name or meta.arch, "method_revision": info.defaults_revision},
    )
    record = RunRecord(summary, None, outcome.result.model, oracle.model, evals,
                       outcome.result.artifacts, outcome.result.mask)
    if workspace is not None:
        record.entry = store_run(workspace, record, meta, run_id=run_id)
    return record


def summarize_run(
    dataset: SplitDataset,
    model: SplitClassifier,
    meta: ModelMeta,
    data: UnlearnData,
    unlearned: SplitClassifier,
    oracle: Oracle,
    *,
    method: str,
    config: dict[str, Any],
    time_s: float | None,
    device: torch.device,
    seed: int,
    progress: ProgressFn = no_progress,
    extra: dict[str, Any] | None = None,
    train_seed: int | None = None,
    workspace: Workspace | None = None,
) -> tuple[dict[str, Any], dict[str, ModelEval]]:
    """Evaluate the original, unlearned and retrained models alike and build a run's summary (the
    CLI's `unlearn` JSON): one place for every run, the studio's own and external ones.
    `time_s` is None when the unlearning happened elsewhere; `extra` adds fields; `train_seed`
    (default `seed`) is the oracle's training seed. ``noise_floor`` is retraining's own spread from a
    seed study of this request stored in `workspace`, else None."""
    train_seed = seed if train_seed is None else train_seed
    progress(ProgressEvent(0, 1, "evaluating original, unlearned and retrained models"))
    evals = {
        "original": evaluate_model(model, data, device=device, seed=seed),
        "unlearned": evaluate_model(unlearned, data, device=device, seed=seed),
        "retrain": evaluate_model(oracle.model, data, device=device, seed=seed),
    }
    progress(ProgressEvent(1, 1, "evaluation done"))
    versus = compare_to_retrain(evals["unlearned"], evals["retrain"])
    forget, retrain_time = data.forget, oracle.time_s
    summary: dict[str, Any] = {
        "method": method,
        "dataset": dataset.name,
        "model": meta.arch,
        "forget": forget.spec,
        "seed": seed,
        "n_forget": forget.n_forget,
        "n_retain": forget.n_retain,
        **{name: ev.headline() for name, ev in evals.items()},
        "avg_gap": versus["avg_gap"],
        "avg_gap_informative": avg_gap_informative(evals["unlearned"], evals["retrain"]),
        "train_seed": train_seed,
        "time_s": time_s,
        "retrain_time_s": retrain_time,
        "params_changed_frac": params_changed_frac(model, unlearned),
        "time_ratio": time_s / retrain_time if time_s is not None and retrain_time and retrain_time > 0 else None,
        "retrain_reused": oracle.reused,
        "retrain_reason": oracle.reason,
        "retrain_waited_s": oracle.waited_s,
        "retrain_measured_at": oracle.measured.get("measured_at"),
        "retrain_device": oracle.measured.get("device"),
        "retrain_host_load": oracle.measured.get("host_load"),
        "retrain_key": retrain_key(meta, forget.forget_idx, train_seed, data_fingerprint(dataset)),
        "data_fingerprint": data_fingerprint(dataset),
        "versus_retrain": versus,
        "details": {name: ev.to_dict() for name, ev in evals.items()},
        "config": config,
        "device": str(device),
        "model_name": meta.arch,
        "model_digest": state_digest(model),
        "class_names": list(dataset.class_names),
        **(extra or {}),
    }
    summary["noise_floor"] = stored_noise_floor(workspace, summary) if workspace is not None else None
    return summary, evals


def store_run(workspace: Workspace, record: RunRecord, meta: ModelMeta, run_id: str | None = None) -> Entry:
    """Write a run (summary, unlearned model, mask, artifacts) to the workspace atomically."""
    return workspace.save_run(record.summary, record.unlearned, meta, mask=record.mask,
                              artifacts=record.artifacts, entry_id=run_id)


def find_run(workspace: Workspace, *, dataset: str, method: str, forget: str, seed: int, model_digest: str,
             config: dict[str, Any], fingerprint: str | None = None, train_seed: int | None = None) -> Entry | None:
    """The newest stored run of exactly this method, settings, forget set, seed (and training seed,
    default `seed`) and starting model (and data content, when `fingerprint` is given), so a
    repeated request (e.g. the guided tour, a seed study's member) can show it instead of
    recomputing it. A run made when the method's auto defaults resolved differently (an older
    `MethodInfo.defaults_revision`) is not it."""
    train_seed = seed if train_seed is None else train_seed
    revision = get_method(method).defaults_revision
    for entry in workspace.list("run", dataset=dataset):
        s = entry.info
        if (s["method"], s["forget"], s["seed"], s.get("model_digest")) == (method, forget, seed, model_digest) \
                and s.get("train_seed", s["seed"]) == train_seed and s.get("method_revision", 1) == revision \
                and s.get("config") == to_jsonable(config) \
                and (fingerprint is None or s.get("data_fingerprint") == fingerprint):
            return entry
    return None

def run_models(workspace: Workspace, entry: Entry) -> tuple[SplitClassifier, SplitClassifier | None]:
    """The unlearned model of a run and its retrained oracle (None if it is no longer stored)."""
    unlearned, _ = load_checkpoint(entry.file(MODEL_FILE))
    found = workspace.find("model", entry.info.get("retrain_key", ""))
    retrained = workspace.load_model(found.id)[0] if found else None
    return unlearned, retrained
