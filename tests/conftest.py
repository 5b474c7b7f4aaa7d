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


@pytest.fixture(scope="session")
def shipped_digits() -> tuple[SplitClassifier, ModelMeta]:
    """The shipped default digits model (unlearn_core/assets/, made by `make-assets`): loaded, never trained here."""
    from unlearn_core.models import load_checkpoint
    from unlearn_core.models.defaults import default_checkpoint_path

    return load_checkpoint(default_checkpoint_path("digits"))


class NetworkBlocked(AssertionError):
    """Raised by the `no_network` fixture when code under test tries to reach the network."""


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> type[NetworkBlocked]:
    """Any attempt to open a network connection (or resolve a name) raises `NetworkBlocked`.

    Nothing may download weights or data at run time; tests that build datasets and models use
    this so that a builder reaching for the network fails loudly instead of passing offline.
    """
    import socket

    def refuse(*args, **kwargs):
        raise NetworkBlocked(f"network access attempted: {args[1:] or kwargs}")

    for name in ("connect", "connect_ex", "sendto", "sendmsg"):
        monkeypatch.setattr(socket.socket, name, refuse)
    for name in ("create_connection", "getaddrinfo", "gethostbyname"):
        monkeypatch.setattr(socket, name, refuse)
    return NetworkBlocked


class GuardedImages:
    """Stands in for `train.x`: indexing any forget row raises; `reads` counts the allowed reads."""

    def __init__(self, x: torch.Tensor, forbidden) -> None:
        import numpy as np

        self._x, self._forbidden = x, np.zeros(len(x), dtype=bool)
        self._forbidden[forbidden] = True
        self.shape, self.ndim, self.dtype = x.shape, x.ndim, x.dtype
        self.reads = 0

    def __len__(self) -> int:
        return len(self._x)

    def __getitem__(self, idx):
        import numpy as np

        first = idx[0] if isinstance(idx, tuple) else idx
        first = first.numpy() if isinstance(first, torch.Tensor) else first
        rows = np.arange(len(self._x))[first]
        if self._forbidden[rows].any():
            raise AssertionError("a forget image was read")
        self.reads += 1
        return self._x[idx]


@pytest.fixture(scope="session")
def guard_forget_images():
    """``guard(data) -> (guarded UnlearnData, GuardedImages)``: the same forget set over a dataset whose
    train images raise on any read of a forget row (labels and retain images stay readable)."""
    import dataclasses

    from unlearn_core.data import Split
    from unlearn_core.methods import UnlearnData

    def guard(data):
        images = GuardedImages(data.dataset.train.x, data.forget.forget_idx)
        train = Split(images, data.dataset.train.y, data.dataset.train.meta)
        return UnlearnData(dataclasses.replace(data.dataset, train=train), data.forget), images

    return guard


@pytest.fixture(scope="session")
def shipped_digits_retrained_class3(shipped_digits, digits) -> SplitClassifier:
    """The shipped digits architecture retrained without class 3 (3 epochs of its recipe, seed 0):
    never saw a 3, test accuracy on the other digits about 0.97."""
    import dataclasses

    from unlearn_core.forget import resolve
    from unlearn_core.methods import RunContext, UnlearnData, run_method

    model, meta = shipped_digits
    short = dataclasses.replace(meta, recipe={**meta.recipe, "epochs": 3})
    data = UnlearnData(digits, resolve("class:3", digits))
    return run_method("retrain", model, data, RunContext(CPU, short, seed=0)).result.model


@pytest.fixture(scope="session")
def digits_external_run(tmp_path_factory: pytest.TempPathFactory):
    """(workspace root, run id): an external run on digits class:3 whose "unlearned" model is the
    shipped model itself, so the inspection figures have known answers (Compare's AppTest and browser tests).

    The workspace's retrained oracle is a stand-in, stored under the real retrain key: the shipped
    model with the class-3 logit pushed down by 50, which never predicts a 3 (training the real one
    takes minutes on a loaded machine, and these tests check the pages, not retraining).
    """
    import copy

    from unlearn_core.forget import resolve
    from unlearn_core.models.defaults import load_default
    from unlearn_core.runs.external import evaluate_external
    from unlearn_core.runs.one_run import retrain_key
    from unlearn_core.workspace.fingerprint import data_fingerprint
    from unlearn_core.workspace.store import Workspace

    root = tmp_path_factory.mktemp("external_run") / "workspace"
    workspace = Workspace(root)
    data = load_dataset("digits")
    model, meta = load_default("digits", device=CPU)
    stand_in = copy.deepcopy(model)
    with torch.no_grad():
        stand_in.head.bias[3] -= 50.0
    workspace.save_model(stand_in, meta, "stand-in retrained model",
                         key=retrain_key(meta, resolve("class:3", data, 0).forget_idx, 0, data_fingerprint(data)), info={"time_s": 0.0})
    record = evaluate_external(data, model, meta, model, "class:3", device=CPU, workspace=workspace,
                               checkpoint="shipped.safetensors")
    assert record.summary["retrain_reused"]
    return root, record.entry.id
