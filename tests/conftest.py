"""Shared fixtures: small data and models, trained once per test session."""

from __future__ import annotations

import pytest
import torch

from unlearn_core.data import SplitDataset, load_dataset
from unlearn_core.models import ModelMeta, SplitClassifier
from unlearn_core.models.defaults import train_model
from unlearn_core.recipes import recipe_for

torch.set_num_threads(2)
CPU = torch.device("cpu")


@pytest.fixture(scope="session")
def cpu() -> torch.device:
    return CPU


@pytest.fixture(scope="session")
def digits() -> SplitDataset:
    """scikit-learn digits at 16x16 (1,438 train / 359 test)."""
    return load_dataset("digits")


@pytest.fixture(scope="session")
def digits_model(digits: SplitDataset) -> tuple[SplitClassifier, ModelMeta]:
    """A small CNN (width 16) trained on digits with a short recipe; test accuracy about 0.98."""
    config = recipe_for("digits", "small_cnn", seed=0, epochs=8)
    model, meta, _ = train_model(digits, "small_cnn", config, device=CPU, arch_options={"width": 16})
    return model, meta


@pytest.fixture(autouse=True)
def _no_rng_leak():
    """Tests must not depend on each other through torch's global RNG."""
    state = torch.random.get_rng_state()
    yield
    torch.random.set_rng_state(state)
