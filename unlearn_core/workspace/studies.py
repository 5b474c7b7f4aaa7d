"""Seed studies in the workspace: stored once per request, found again by the request.

A study entry (kind ``study``) holds the study's JSON (`seed_study.run_study`'s result) as its info
and ``scores.safetensors``: the scaled confidence of every forget example under every member
(``unlearned`` [K, N], ``retrain`` [K', N], ``forget_idx`` [N]) for the per-example views. It is
keyed by what the request is: data content, starting model, forget spec and seed, method, settings
and K. Retraining's spread depends on all of that but the method, so a run finds its noise floor in
any study of its data, model, forget set and seed (`stored_noise_floor`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from unlearn_core.serialize import dumps, to_jsonable
from unlearn_core.workspace.store import Entry, Workspace

SCORES_FILE = "scores.safetensors"
REQUEST_FIELDS = ("dataset", "data_fingerprint", "model_digest", "forget", "seed")


def study_key(request: Mapping[str, Any], method: str, config: Mapping[str, Any], k: int, revision: int = 1) -> str:
    """The cache key of a study: its request (`REQUEST_FIELDS`), method, settings, K, and the method's
    `defaults_revision` (from 2 on: a study of older auto defaults is not reused)."""
    parts = [str(request[f]) for f in REQUEST_FIELDS]
    method_part = method if revision == 1 else f"{method}@r{revision}"
    return "|".join(["study", *parts, method_part, json.dumps(to_jsonable(dict(config)), sort_keys=True), str(k)])


def save_study(workspace: Workspace, result: dict[str, Any], scores: Mapping[str, np.ndarray], key: str) -> Entry:
    """Store a finished study (its JSON and the members' per-example scores) atomically."""
    tensors = {name: torch.as_tensor(np.ascontiguousarray(v)) for name, v in scores.items()}
    name = f"study {result['method']} | {result['forget']} | K={result['k']}"
    return workspace.put("study", name, dataset=result["dataset"], key=key, info=json.loads(dumps(result)),
                         files={SCORES_FILE: lambda p: save_file(tensors, str(p))})


def find_study(workspace: Workspace, key: str) -> Entry | None:
    """The newest stored study under `key` (`study_key`), or None."""
    return workspace.find("study", key)


def load_scores(entry: Entry) -> dict[str, np.ndarray]:
    """The members' per-example scaled confidences of a stored study (see the module doc)."""
    return {name: t.numpy() for name, t in load_file(str(entry.file(SCORES_FILE))).items()}


def studies_for(workspace: Workspace, request: Mapping[str, Any]) -> list[Entry]:
    """Stored studies of this request's data, starting model, forget spec and seed (any method),
    newest first; `request` is a run summary or a study result."""
    return [e for e in workspace.list("study", dataset=request["dataset"])
            if all(e.info.get(f) == request.get(f) for f in REQUEST_FIELDS)]


def stored_noise_floor(workspace: Workspace, request: Mapping[str, Any]) -> dict[str, Any] | None:
    """Retraining's seed-to-seed spread for this request from the newest matching study (with its
    K and the study's id), or None when no study of it exists yet."""
    found = studies_for(workspace, request)
    if not found:
        return None
    info = found[0].info
    return {**info["noise_floor"], "k": info["k"], "study_id": found[0].id}
