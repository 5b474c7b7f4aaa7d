"""Shared fixtures: small data and models, trained once per test session."""

from __future__ import annotations

import pytest
import torch

from unlearn_core.data import SplitDataset, load_dataset
from unlearn_core.models import ModelMeta, SplitClassifier
from unlearn_core.recipes import recipe_for, train_model

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


@pytest.fixture(scope="session")
def digits_external_run(tmp_path_factory: pytest.TempPathFactory):
    """(workspace root, run id): an external run on digits class:3 whose "unlearned" model is the
    shipped model itself, so the inspection figures have known answers (Compare's AppTest and browser tests).

    The workspace's retrained oracle is a stand-in, stored under the real retrain key: the shipped
    model with the class-3 logit pushed down by 50, which never predicts a 3 (training the real one
    takes minutes on a loaded machine, and these tests check the pages, not retraining).
    """
    import copy

    from unlearn_core.external import evaluate_external
    from unlearn_core.forget import resolve
    from unlearn_core.recipes import load_default
    from unlearn_core.runs import retrain_key
    from unlearn_core.store import Workspace

    root = tmp_path_factory.mktemp("external_run") / "workspace"
    workspace = Workspace(root)
    data = load_dataset("digits")
    model, meta = load_default("digits", device=CPU)
    stand_in = copy.deepcopy(model)
    with torch.no_grad():
        stand_in.head.bias[3] -= 50.0
    workspace.save_model(stand_in, meta, "stand-in retrained model",
                         key=retrain_key(meta, resolve("class:3", data, 0).forget_idx, 0), info={"time_s": 0.0})
    record = evaluate_external(data, model, meta, model, "class:3", device=CPU, workspace=workspace,
                               checkpoint="shipped.safetensors")
    assert record.summary["retrain_reused"]
    return root, record.entry.id
