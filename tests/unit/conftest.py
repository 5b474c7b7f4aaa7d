"""Fixtures of the unit tests: a small concept-shapes set and a model trained on it once per session;
the benchmark scripts loaded as modules."""

from __future__ import annotations

import copy
import importlib.util
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest
import torch

from unlearn_core.data import SplitDataset, load_dataset
from unlearn_core.forget import ForgetSet, resolve
from unlearn_core.models import ModelMeta, SplitClassifier
from unlearn_core.models.defaults import load_default, train_model
from unlearn_core.recipes import recipe_for

CPU = torch.device("cpu")
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="session")
def benchmark_script() -> Callable[[str], ModuleType]:
    """Load ``benchmarks/<name>.py`` as a module (the benchmarks are scripts, not a package)."""

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one intra-op thread: on a busy 2-core machine two threads made training 8x slower."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


@pytest.fixture(scope="module")
def single_thread() -> Iterator[None]:
    """Module-wide `one_thread` for test modules that opt in (``pytestmark = usefixtures(...)``)."""
    with one_thread():
        yield


@pytest.fixture(scope="session")
def shapes_small() -> SplitDataset:
    """Concept shapes with 3,000 train / 600 test images (star -> yellow planted, as every preferred colour)."""
    return load_dataset("shapes", n_train=3000, n_test=600, seed=0)


@pytest.fixture(scope="session")
def shapes_model(shapes_small: SplitDataset) -> tuple[SplitClassifier, ModelMeta]:
    """A small CNN (width 16) trained with Adam 5e-3 for 10 epochs; test accuracy about 0.98.

    (The SGD shapes recipe needs more steps than a test can afford on 3,000 images.)
    """
    config = recipe_for("shapes", "small_cnn", seed=0, epochs=10, batch_size=64, lr=5e-3, optimizer="adam",
                        weight_decay=0.0)
    with one_thread():
        model, meta, _ = train_model(shapes_small, "small_cnn", config, device=CPU, arch_options={"width": 16})
    return model, meta


@pytest.fixture(scope="module")
def shapes_run_parts() -> tuple[SplitDataset, ForgetSet, dict[str, SplitClassifier]]:
    """Shapes (300 train / 60 test), forget class:3, and three models by role: the shipped shapes
    model as ``original`` and two copies with a changed head bias (``unlearned``, ``retrain``: other
    weights digests, so other feature-cache entries; no training)."""
    data = load_dataset("shapes", n_train=300, n_test=60, seed=0)
    original = load_default("shapes", device=CPU)[0].eval()
    models = {"original": original}
    for who, shift in (("unlearned", 2.0), ("retrain", -3.0)):
        models[who] = copy.deepcopy(original)
        with torch.no_grad():
            models[who].head.bias[3] += shift
    return data, resolve("class:3", data, 0), models
