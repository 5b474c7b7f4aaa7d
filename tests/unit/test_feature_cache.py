"""The workspace's feature cache: a hit is the same arrays, the key names the model and the data,
entries outlive the process, and a damaged entry is recomputed, never served."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from unlearn_core.concepts import infer_concepts
from unlearn_core.concepts.storage import inference_from_arrays, inference_to_arrays
from unlearn_core.data import load_dataset
from unlearn_core.models.defaults import load_default
from unlearn_core.workspace import feature_cache as fc

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def shapes_tiny():
    """Concept shapes with 300 train / 60 test images and the shipped shapes model (no training)."""
    data = load_dataset("shapes", n_train=300, n_test=60, seed=0)
    model, _ = load_default("shapes", device=CPU)
    return data, model.eval()


def _counting(arrays: dict[str, np.ndarray]):
    calls = []

    def compute():
        calls.append(1)
        return arrays, {"n": 1}

    return compute, calls


def test_a_hit_returns_identical_arrays_without_computing(tmp_path: Path, shapes_tiny) -> None:
    data, model = shapes_tiny
    first = fc.model_outputs(tmp_path, model, data, "train")
    second = fc.model_outputs(tmp_path, model, data, "train")
    assert torch.equal(first.features, second.features) and torch.equal(first.logits, second.logits)
    with torch.no_grad():
        assert torch.allclose(first.logits, model(data.train.x), atol=1e-5)
    compute, calls = _counting({"a": np.arange(5.0)})
    key = fc.model_key(model, data) | {"split": "train"}
    fc.cached_arrays(tmp_path, "outputs_probe", key, compute)
    hit = fc.cached_arrays(tmp_path, "outputs_probe", key, compute)
    assert calls == [1] and hit.reused and np.array_equal(hit.arrays["a"], np.arange(5.0))


def test_another_model_or_changed_data_misses(tmp_path: Path, shapes_tiny) -> None:
    data, model = shapes_tiny
    base = fc.model_outputs(tmp_path, model, data, "test")
    changed_model = load_default("shapes", device=CPU)[0].eval()
    with torch.no_grad():
        changed_model.head.bias.add_(1.0)
    assert not torch.equal(fc.model_outputs(tmp_path, changed_model, data, "test").logits, base.logits)
    changed_data = copy.deepcopy(data)  # load_dataset shares one object: never change the caller's
    changed_data.test.x[0, 0, 0, 0] += 0.5  # one pixel: the fingerprint changes, so does the key
    assert fc.model_key(model, changed_data) != fc.model_key(model, data)
    compute, calls = _counting({"a": np.zeros(2)})
    fc.cached_arrays(tmp_path, "probe", fc.model_key(model, data), compute)
    fc.cached_arrays(tmp_path, "probe", fc.model_key(model, changed_data), compute)
    fc.cached_arrays(tmp_path, "probe", fc.model_key(changed_model, data), compute)
    assert calls == [1, 1, 1]


def test_entries_survive_a_new_process(tmp_path: Path) -> None:
    key = {"model": "m", "data": "d", "dataset": "x"}
    fc.cached_arrays(tmp_path, "probe", key, lambda: ({"a": np.arange(4, dtype=np.float32)}, {"n": 4}))
    script = (
        "import json, sys\n"
        "from unlearn_core.workspace.feature_cache import cached_arrays\n"
        "def never():\n    raise SystemExit('recomputed in the new process')\n"
        f"hit = cached_arrays(sys.argv[1], 'probe', {key!r}, never)\n"
        "print(json.dumps({'reused': hit.reused, 'a': hit.arrays['a'].tolist(), 'info': hit.info}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True)
    out = json.loads(done.stdout)
    assert out == {"reused": True, "a": [0.0, 1.0, 2.0, 3.0], "info": {"n": 4}}


@pytest.mark.parametrize("damage", ["truncate", "flip_data", "garbage", "other_key"])
def test_a_damaged_entry_is_recomputed_not_served(tmp_path: Path, damage: str) -> None:
    key = {"model": "m", "data": "d"}
    good = {"a": np.arange(64, dtype=np.float32)}
    fc.cached_arrays(tmp_path, "probe", key, lambda: (good, {}))
    path = fc.cache_path(tmp_path, "probe", key)
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(bytes(raw[: len(raw) // 2]))
    elif damage == "flip_data":
        raw[-1] ^= 0xFF  # a float of the array: still parses, fails the checksum
        path.write_bytes(bytes(raw))
    elif damage == "garbage":
        path.write_bytes(b"not a safetensors file")
    else:  # a valid file of another key at this path
        other = fc.cache_path(tmp_path, "probe", {"model": "other"})
        fc.cached_arrays(tmp_path, "probe", {"model": "other"}, lambda: ({"a": np.zeros(64, np.float32)}, {}))
        path.write_bytes(other.read_bytes())
    compute, calls = _counting(good)
    found = fc.cached_arrays(tmp_path, "probe", key, compute)
    assert calls == [1] and not found.reused and "recomputed" in found.reason
    assert np.array_equal(found.arrays["a"], good["a"])
    assert fc.cached_arrays(tmp_path, "probe", key, compute).reused  # repaired on disk


def test_concept_inference_round_trips_and_is_cached(tmp_path: Path, shapes_tiny) -> None:
    data, model = shapes_tiny
    direct = infer_concepts(model, data, device=CPU)
    again = inference_from_arrays(*inference_to_arrays(direct))
    assert again.bank.names == direct.bank.names
    assert np.array_equal(again.attribution.matrix, direct.attribution.matrix)
    assert np.array_equal(again.bottleneck.weight, direct.bottleneck.weight)
    assert again.bank.control_accuracy == direct.bank.control_accuracy
    cached = fc.concept_inference(tmp_path, model, data)
    assert np.allclose(cached.attribution.matrix, direct.attribution.matrix, atol=1e-6)
    reread = fc.concept_inference(tmp_path, model, data)
    assert np.array_equal(reread.bank.vectors, cached.bank.vectors)
    summary = fc.bottleneck_summary(tmp_path, model, data)
    assert set(summary) == {"model_accuracy", "bottleneck_accuracy", "random_directions_accuracy", "bottleneck_sparsity"}


def test_estimates_come_from_a_stored_timing_only(tmp_path: Path) -> None:
    assert fc.estimate_seconds(tmp_path, "projection_umap", 6000) is None
    fc.record_timing(tmp_path, "projection_umap", 12.0, 3000)
    assert fc.estimate_seconds(tmp_path, "projection_umap", 6000) == pytest.approx(24.0)
    assert fc.last_timing(tmp_path, "projection_umap") == {"seconds": 12.0, "n": 3000.0}


def test_a_umap_of_the_train_set_is_stratified_by_its_labels_and_keyed_by_how_it_is_made(
        tmp_path: Path, shapes_tiny, monkeypatch) -> None:
    import unlearn_core.embed as embed

    data, model = shapes_tiny
    seen = []

    def fit(values, method, seed, labels=None):
        seen.append(labels)
        return None, np.zeros((len(values), 2), np.float32)

    monkeypatch.setattr(embed, "fit_projection", fit)
    fc.train_projection(tmp_path, model, data, "umap")
    assert len(seen) == 1 and torch.equal(torch.as_tensor(seen[0]), data.train.y)
    fc.train_projection(tmp_path, model, data, "umap")
    assert len(seen) == 1  # stored
    monkeypatch.setattr(embed, "UMAP_FIT_POINTS", 100)  # made another way: the stored one is not served for it
    fc.train_projection(tmp_path, model, data, "umap")
    assert len(seen) == 2
