"""The caller's model is never touched: not moved, not cast, not changed, not left in another mode.

The app shares one cached model between the page thread and background runs, so a library
function that moved it (``model.to(device)``) would, on a GPU, pull the page's model to the GPU
while the page moves it back. On this CPU-only machine a move is invisible in the tensors, so the
test records every ``Module._apply`` call (what ``.to``, ``.cpu``, ``.cuda``, ``.float`` and
``.half`` run) made on any module of the original model, and also compares its parameters and
buffers bitwise, their storage, device and dtype, ``requires_grad`` and the train/eval mode.

Covered: every registered method (`run_method`), the retrained oracle, every localizer, evaluation,
prediction and features, pixel attributions, and one whole `unlearn_run`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from unlearn_core.concepts import pixel_attributions
from unlearn_core.data import SplitDataset, load_dataset
from unlearn_core.forget import UnlearnData, resolve
from unlearn_core.localize import LOCALIZERS, localize
from unlearn_core.methods import MethodInfo, RunContext, list_methods, run_method
from unlearn_core.metrics import evaluate_model
from unlearn_core.models import ModelMeta, SplitClassifier
from unlearn_core.models.defaults import train_model
from unlearn_core.recipes import recipe_for
from unlearn_core.runs.one_run import get_retrained, unlearn_run
from unlearn_core.train import extract_features, predict_logits

CPU = torch.device("cpu")
pytestmark = pytest.mark.usefixtures("single_thread")


@dataclass
class Snapshot:
    """Everything about a model a caller could notice."""

    values: dict[str, torch.Tensor]
    where: dict[str, tuple[int, torch.device, torch.dtype, bool]]
    modes: list[bool]

    @classmethod
    def of(cls, model: nn.Module) -> Snapshot:
        tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
        return cls(
            {k: t.detach().clone() for k, t in tensors.items()},
            {k: (t.data_ptr(), t.device, t.dtype, t.requires_grad) for k, t in tensors.items()},
            [m.training for m in model.modules()],
        )

    def assert_same(self, model: nn.Module) -> None:
        now = Snapshot.of(model)
        assert now.where == self.where, "a parameter or buffer was moved, cast, replaced or (un)frozen"
        changed = [k for k in self.values if not torch.equal(self.values[k], now.values[k])]
        assert not changed, f"values changed: {changed[:5]}"
        assert now.modes == self.modes, "the train/eval mode was left changed"


@pytest.fixture(scope="module")
def tiny() -> SplitDataset:
    """240 / 60 shapes images with concepts and a few backdoored samples (every evaluation path)."""
    return load_dataset("shapes", n_train=240, n_test=60, seed=0, backdoor_fraction=0.05)


@pytest.fixture(scope="module")
def tiny_model(tiny: SplitDataset) -> tuple[SplitClassifier, ModelMeta]:
    config = recipe_for("shapes", "small_cnn", seed=0, epochs=1, batch_size=64)
    model, meta, _ = train_model(tiny, "small_cnn", config, device=CPU, arch_options={"width": 4})
    return model, meta


@pytest.fixture
def untouched(tiny_model, monkeypatch) -> Iterator[Callable[[], None]]:
    """Records `_apply` on the original model's modules; the returned check asserts nothing happened."""
    model = tiny_model[0]
    watched = {id(m) for m in model.modules()}
    moves: list[str] = []
    real_apply = nn.Module._apply

    def recording_apply(self: nn.Module, fn, *args, **kwargs):
        if id(self) in watched:
            moves.append(type(self).__name__)
        return real_apply(self, fn, *args, **kwargs)

    before = Snapshot.of(model)
    monkeypatch.setattr(nn.Module, "_apply", recording_apply)

    def check() -> None:
        assert not moves, f"the caller's model was moved or cast ({len(moves)} calls on {sorted(set(moves))})"
        before.assert_same(model)

    yield check


def _spec(info: MethodInfo) -> str:
    if info.supports("class"):
        return "class:0"
    if info.supports("samples"):
        return "random:0.1"
    return "concept:color=yellow"


@pytest.mark.parametrize("info", list_methods(), ids=lambda m: m.name)
def test_a_method_leaves_the_callers_model_untouched(info: MethodInfo, tiny, tiny_model, untouched) -> None:
    model, meta = tiny_model
    data = UnlearnData(tiny, resolve(_spec(info), tiny))
    run_method(info.name, model, data, RunContext(CPU, meta, seed=0))
    untouched()


def test_the_retrained_oracle_leaves_the_callers_model_untouched(tiny, tiny_model, untouched) -> None:
    model, meta = tiny_model
    get_retrained(model, meta, UnlearnData(tiny, resolve("class:0", tiny)), seed=0, device=CPU, workspace=None)
    untouched()


@pytest.mark.parametrize("localizer", list(LOCALIZERS))
def test_localization_leaves_the_callers_model_untouched(localizer: str, tiny, tiny_model, untouched) -> None:
    localize(tiny_model[0], UnlearnData(tiny, resolve("class:0", tiny)), localizer=localizer, budget=0.1, device=CPU)
    untouched()


def test_evaluation_and_inference_leave_the_callers_model_untouched(tiny, tiny_model, untouched) -> None:
    model = tiny_model[0]
    evaluate_model(model, UnlearnData(tiny, resolve("class:0", tiny)), device=CPU)
    predict_logits(model, tiny.test.x, device=CPU)
    extract_features(model, tiny.test.x, device=CPU)
    pixel_attributions({"original": model}, tiny.test.x[:4], 0, device=CPU, n_steps=4)
    untouched()


def test_a_whole_run_leaves_the_callers_model_untouched(tiny, tiny_model, untouched) -> None:
    model, meta = tiny_model
    unlearn_run(tiny, model, meta, "class:0", "finetune", device=CPU)
    untouched()
