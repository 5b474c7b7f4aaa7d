"""What is computed once per model and dataset, kept in the workspace: outputs, projections, concepts.

A model's penultimate features and logits on a split, the 2-D projections of its train features
(PCA, UMAP) and its concept inference (CAV bank, bottleneck, IG map) depend only on the model's
weights and the data's content. They are stored under ``<workspace>/cache/<namespace>/`` keyed by
the weights' digest (`models.state_digest`) and the data fingerprint
(`fingerprint.data_fingerprint`), so a second session, a reload or a restarted server reads them
instead of recomputing (a shapes train pass or a UMAP takes seconds on two cores).

Files are safetensors (never pickle) whose header carries the full key, the caller's JSON info and
a checksum of the arrays. A file that cannot be read, belongs to another key or fails its checksum
is recomputed and replaced, never served; only a regular file inside the workspace is opened (the
cache folder is a workspace folder of `fs_policy`). ``python -m unlearn_core cache`` reports its
size and clears it (`cache_folder`). Writes go to a temporary file renamed into place, so a
crash leaves no half-written entry and two processes computing the same key both end with a
complete file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

import unlearn_core.fs_policy as fs_policy
from unlearn_core.data import SplitDataset
from unlearn_core.models import SplitClassifier, state_digest
from unlearn_core.progress import ProgressEvent, ProgressFn, no_progress
from unlearn_core.serialize import dumps
from unlearn_core.workspace.cache_folder import CACHE_FOLDER
from unlearn_core.workspace.fingerprint import data_fingerprint

TIMINGS_FILE = "timings.json"  # per-kind timings of the last computation, for honest estimates
FORWARD_CHUNK = 1024  # images per progress step of a forward pass

Compute = Callable[[], tuple[dict[str, np.ndarray], dict[str, Any]]]


@dataclass(frozen=True)
class CachedArrays:
    """Arrays read from the cache or freshly computed, their JSON info, and why (not) reused."""

    arrays: dict[str, np.ndarray]
    info: dict[str, Any]
    reused: bool
    reason: str


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}\x1f{a.dtype.str}\x1f{a.shape}\x1f".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _key_text(key: dict[str, Any]) -> str:
    return json.dumps(json.loads(dumps(key)), sort_keys=True, separators=(",", ":"))


def cache_path(root: str | Path, namespace: str, key: dict[str, Any]) -> Path:
    """The file that holds the entry `key` of `namespace` (whether or not it exists yet)."""
    digest = hashlib.sha256(f"{namespace}\x1f{_key_text(key)}".encode()).hexdigest()[:32]
    return Path(root) / CACHE_FOLDER / fs_policy.check_id(namespace, "cache namespace") / f"{digest}.safetensors"


def _read(path: Path, key_text: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """The entry at `path` if it is complete, for `key_text` and intact; None otherwise."""
    try:
        arrays = load_file(path)
        with open(path, "rb") as f:  # the header's metadata (load_file returns the tensors only)
            header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
        meta = header.get("__metadata__", {})
        if meta.get("key") != key_text or meta.get("checksum") != _checksum(arrays):
            return None
        return arrays, json.loads(meta["info"])
    except (OSError, ValueError, KeyError, SafetensorError):
        return None


def _write(root: str | Path, path: Path, key_text: str, arrays: dict[str, np.ndarray], info: dict[str, Any]) -> None:
    """Store an entry atomically (a temporary file renamed into place); a read-only or full disk only
    means it is not kept."""
    try:
        folder = fs_policy.workspace_dir(root, f"{CACHE_FOLDER}/{path.parent.name}")
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
        os.close(fd)
        metadata = {"key": key_text, "checksum": _checksum(arrays), "info": dumps(info)}
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, tmp, metadata=metadata)
        os.replace(tmp, path)
    except (OSError, fs_policy.FsPolicyError):
        if "tmp" in locals() and os.path.exists(tmp):
            os.remove(tmp)


def read_cached(root: str | Path, namespace: str, key: dict[str, Any]) -> CachedArrays | None:
    """The intact entry stored under (`namespace`, `key`), or None: nothing is computed. Only a
    regular file inside the workspace is opened (`fs_policy.regular_file_inside`): a link, a FIFO
    or a folder linked out of the workspace reads as absent."""
    path = cache_path(root, namespace, key)
    found = _read(path, _key_text(key)) if fs_policy.regular_file_inside(root, path) else None
    return None if found is None else CachedArrays(found[0], found[1], True, f"reused from {path.name}")


def cached_arrays(root: str | Path, namespace: str, key: dict[str, Any], compute: Compute) -> CachedArrays:
    """The arrays stored under (`namespace`, `key`) in the workspace at `root`, or `compute()`'s,
    stored for next time.

    `key` must name everything the result depends on (JSON values); `compute` returns the
    arrays and a JSON-able info dict. A missing, unreadable, foreign or corrupted entry is
    recomputed and replaced: a cache never serves what it cannot verify.
    """
    hit = read_cached(root, namespace, key)
    if hit is not None:
        return hit
    path, key_text = cache_path(root, namespace, key), _key_text(key)
    reason = "cache entry unreadable or corrupted: recomputed" if path.exists() else "not cached yet"
    arrays, info = compute()
    _write(root, path, key_text, arrays, info)
    return CachedArrays(arrays, info, False, reason)


# -- timings: estimates come from what this workspace measured -----------------------------------
def last_timing(root: str | Path, kind: str) -> dict[str, float] | None:
    """The last stored timing of `kind` in this workspace (`seconds`, `n` items), or None."""
    path = Path(root) / CACHE_FOLDER / TIMINGS_FILE
    if not fs_policy.regular_file_inside(root, path):
        return None
    try:
        entry = json.loads(path.read_text()).get(kind)
        return {"seconds": float(entry["seconds"]), "n": float(entry["n"])} if entry else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def estimate_seconds(root: str | Path, kind: str, n: int) -> float | None:
    """Seconds a `kind` computation on `n` items should take, scaled linearly from the last one
    timed in this workspace; None when none was timed yet (no made-up constant)."""
    last = last_timing(root, kind)
    if last is None or last["n"] <= 0:
        return None
    return last["seconds"] * n / last["n"]


def record_timing(root: str | Path, kind: str, seconds: float, n: int) -> None:
    """Store the timing of a `kind` computation on `n` items (atomically; skipped on a read-only disk)."""
    path = Path(root) / CACHE_FOLDER / TIMINGS_FILE
    try:
        timings = json.loads(path.read_text()) if fs_policy.regular_file_inside(root, path) else {}
        if not isinstance(timings, dict):
            timings = {}
    except (OSError, ValueError):
        timings = {}
    timings[kind] = {"seconds": round(float(seconds), 3), "n": int(n),
                     "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        folder = fs_policy.workspace_dir(root, CACHE_FOLDER)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(dumps(timings))
        os.replace(tmp, path)
    except (OSError, fs_policy.FsPolicyError):
        pass


# -- what is cached ------------------------------------------------------------------------------
def model_key(model: SplitClassifier, dataset: SplitDataset) -> dict[str, str]:
    """The part of every key that names the model (its weights' digest) and the data (its content)."""
    return {"model": state_digest(model), "data": data_fingerprint(dataset), "dataset": dataset.name}


@dataclass(frozen=True)
class ModelOutputs:
    """A model's penultimate features [N, D] and logits [N, K] on one split (CPU tensors)."""

    features: torch.Tensor
    logits: torch.Tensor


@torch.no_grad()
def _forward(model: SplitClassifier, x: torch.Tensor, progress: ProgressFn, label: str) -> dict[str, np.ndarray]:
    """Features and logits of `x` in one pass (logits = head(features)), on the CPU, in eval mode,
    with a progress event per chunk."""
    from unlearn_core.train import extract_features

    feats = []
    for start in range(0, len(x), FORWARD_CHUNK):
        progress(ProgressEvent(start, len(x), f"{label}: image {start} of {len(x)}"))
        feats.append(extract_features(model, x[start:start + FORWARD_CHUNK], device=torch.device("cpu")))
    features = torch.cat(feats) if feats else torch.empty(0)
    was_training = model.head.training
    model.head.eval()
    logits = model.head(features).float()
    model.head.train(was_training)
    progress(ProgressEvent(len(x), len(x), f"{label}: done"))
    return {"features": features.numpy(), "logits": logits.numpy()}


def model_outputs(
    root: str | Path, model: SplitClassifier, dataset: SplitDataset, split: str, *, progress: ProgressFn = no_progress
) -> ModelOutputs:
    """Features and logits of `model` on the "train" or "test" split of `dataset`, computed once per
    (weights, data content, split) in the workspace at `root`."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    x = (dataset.train if split == "train" else dataset.test).x
    found = cached_arrays(root, "outputs", _outputs_key(model, dataset, split),
                          lambda: (_forward(model, x, progress, f"running the model on the {split} split"),
                                   {"n": len(x)}))
    return ModelOutputs(torch.from_numpy(found.arrays["features"]), torch.from_numpy(found.arrays["logits"]))


def outputs_on_rows(
    root: str | Path, model: SplitClassifier, dataset: SplitDataset, split: str, rows: np.ndarray, *,
    progress: ProgressFn = no_progress,
) -> ModelOutputs:
    """Features and logits of `model` on `rows` of the "train" or "test" split: sliced from the whole
    split's outputs when the workspace holds them (`model_outputs`), else computed for these rows
    only, once per (weights, data content, split, rows)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    rows = np.asarray(rows, dtype=np.int64)
    key = _outputs_key(model, dataset, split)
    whole = read_cached(root, "outputs", key)
    if whole is not None:
        return ModelOutputs(torch.from_numpy(whole.arrays["features"][rows]), torch.from_numpy(whole.arrays["logits"][rows]))
    x = (dataset.train if split == "train" else dataset.test).x[torch.as_tensor(rows)]
    found = cached_arrays(root, "outputs", _rows_key(key, rows),
                          lambda: (_forward(model, x, progress, f"running the model on {len(rows):,} {split} images"),
                                   {"n": len(rows)}))
    return ModelOutputs(torch.from_numpy(found.arrays["features"]), torch.from_numpy(found.arrays["logits"]))


def _outputs_key(model: SplitClassifier, dataset: SplitDataset, split: str) -> dict[str, str]:
    """The key of `model`'s outputs on the whole `split` (`model_outputs`)."""
    return {**model_key(model, dataset), "split": split}


def _rows_key(key: dict[str, str], rows: np.ndarray) -> dict[str, Any]:
    """The key of the outputs on `rows` only (`outputs_on_rows`), from the whole split's `key`."""
    return {**key, "rows": hashlib.blake2b(rows.tobytes(), digest_size=16).hexdigest(), "n_rows": len(rows)}


def outputs_stored(root: str | Path, model: SplitClassifier, dataset: SplitDataset, split: str,
                   rows: np.ndarray | None = None) -> bool:
    """Whether the workspace at `root` holds what `model_outputs` (`rows` None: the whole split)
    or `outputs_on_rows` (`rows` given) would read instead of running `model`. A look at the
    files only (a regular file inside the workspace; not read or checksummed: this is for
    estimates, and an entry that turns out unreadable is recomputed all the same)."""
    key = _outputs_key(model, dataset, split)
    keys = [key] if rows is None else [key, _rows_key(key, np.asarray(rows, dtype=np.int64))]
    return any(fs_policy.regular_file_inside(root, cache_path(root, "outputs", k)) for k in keys)


def train_projection(
    root: str | Path, model: SplitClassifier, dataset: SplitDataset, method: str, *, seed: int = 0,
    progress: ProgressFn = no_progress,
) -> np.ndarray:
    """[N_train, 2] coords of the train set in `model`'s feature space by `method` ("pca" or "umap"),
    fitted once per (weights, data, method, seed); a UMAP of many points is fitted on a sample
    stratified by the train labels (`embed.fit_projection`). Its time is stored for `estimate_seconds`."""
    from unlearn_core.embed import UMAP_EPOCHS, UMAP_FIT_POINTS, describe_projection, fit_projection

    def compute() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        features = model_outputs(root, model, dataset, "train", progress=progress).features
        progress(ProgressEvent(0, 1, describe_projection(method, len(features))))
        start = time.perf_counter()
        _, coords = fit_projection(features, method, seed, labels=dataset.train.y)
        seconds = time.perf_counter() - start
        record_timing(root, f"projection_{method}", seconds, len(features))
        return {"coords": coords}, {"seconds": seconds, "n": len(features)}

    key = {**model_key(model, dataset), "method": method, "seed": seed}
    if method == "umap":  # what the projection is made of: a differently made one is not served for it
        key |= {"fit_points": UMAP_FIT_POINTS, "epochs": UMAP_EPOCHS}
    return cached_arrays(root, "projection", key, compute).arrays["coords"]


def concept_inference(
    root: str | Path, model: SplitClassifier, dataset: SplitDataset, *, baseline: str = "mean", seed: int = 0,
    progress: ProgressFn = no_progress,
):
    """The concept bank, bottleneck and class x concept IG map of `model` (`concepts.infer_concepts`),
    computed once per (weights, data, baseline, seed) from the cached train features."""
    from unlearn_core.concepts import infer_concepts
    from unlearn_core.concepts.storage import inference_from_arrays, inference_to_arrays

    def compute() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        features = model_outputs(root, model, dataset, "train", progress=progress).features
        progress(ProgressEvent(0, 1, "training the concept probes, the bottleneck and its IG map"))
        inference = infer_concepts(model, dataset, device=torch.device("cpu"), seed=seed, baseline=baseline,
                                   train_features=features)
        return inference_to_arrays(inference)

    found = cached_arrays(root, "concepts", {**model_key(model, dataset), "baseline": baseline, "seed": seed}, compute)
    return inference_from_arrays(found.arrays, found.info)


def bottleneck_summary(
    root: str | Path, model: SplitClassifier, dataset: SplitDataset, *, seed: int = 0, progress: ProgressFn = no_progress,
) -> dict[str, float]:
    """`concepts.bottleneck_report(...).summary()` for the mean-baseline inference, computed once per
    (weights, data, seed): test accuracies of the model, the bottleneck and its random control."""
    from unlearn_core.concepts import bottleneck_report

    def compute() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        inference = concept_inference(root, model, dataset, seed=seed, progress=progress)
        train = model_outputs(root, model, dataset, "train", progress=progress)
        test = model_outputs(root, model, dataset, "test", progress=progress)
        progress(ProgressEvent(0, 1, "testing the bottleneck against random directions"))
        report = bottleneck_report(model, dataset, inference.bank, device=torch.device("cpu"), seed=seed,
                                   train_features=train.features, test_features=test.features,
                                   test_logits=test.logits)
        return {}, report.summary()

    return cached_arrays(root, "bottleneck", {**model_key(model, dataset), "seed": seed}, compute).info
