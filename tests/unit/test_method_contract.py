"""The contract every registered unlearning method keeps, checked on digits.

Parametrized over `list_methods()`, so a method added later is covered without editing this file.
Fast tier: every method runs with a *short* configuration (one epoch, few steps: `CHEAP`) on
``class:3`` and, where it declares sample forgetting, on ``random:0.1``; each run gets its own copy
of the model, so a method that mutates its input is blamed alone. Mechanical checks only (same
architecture, input untouched, seeded, progress, mask, cancellation part-way, forget-image guard).
Slow tier: the default configuration must forget class 3 and keep the other classes.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import typing
from dataclasses import dataclass

import pytest
import torch

from unlearn_core.data import SplitDataset
from unlearn_core.forget import ForgetSet, resolve
from unlearn_core.methods import MethodInfo, RunContext, RunOutcome, UnlearnData, list_methods, run_method
from unlearn_core.models import ModelMeta, SplitClassifier
from unlearn_core.progress import Cancelled, ProgressEvent
from unlearn_core.train import accuracy, predict_logits

METHODS = list_methods()
IDS = [m.name for m in METHODS]
SEED = 0

# Forget-class TEST accuracy a method's default config must reach on digits class:3 (default 0.2).
FORGET_ACC_MAX: dict[str, float] = {
    # Fine-tune only forgets through catastrophic forgetting at a high learning rate: 0.05 on this
    # model, but 0.38 with another seed. It is the weak baseline; still, it must forget half the class.
    "finetune": 0.5,
}
# Allowed drop of the retained classes' test accuracy below the original model's (default 0.05).
RETAIN_DROP_MAX: dict[str, float] = {
    # SSD dampens without any retraining, and on a ~20k-parameter CNN that is a cliff (see ssd.py):
    # retained-class accuracy fell 0.07 on this model, 0.02 on another, and collapsed on a third.
    "ssd": 0.15,
    # Boundary Shrink fine-tunes on the forget set relabelled to the nearest wrong class only: over two training
    # seeds of this fixture model and its two weight layouts (4 models, 3-4 seeds each) the retained
    # classes' test accuracy fell between 0.040 and 0.081 (0.059 on the model trained now).
    "boundary_shrink": 0.10,
}


# Short settings for the mechanical contract (applied where a config has the field).
CHEAP: dict[str, object] = {
    "epochs": 1, "repair_epochs": 1, "max_epochs": 1, "max_steps": 1, "noise_steps": 2, "noise_copies": 2,
    "pgd_steps": 2, "retain_pool": 500, "retain_per_class": 50, "max_images": 200,
}
SPECS = ("class:3", "random:0.1")


@dataclass
class Run:
    """One finished run, the progress events it sent, its cancellation checks and what it did to its input."""

    outcome: RunOutcome
    events: list[ProgressEvent]
    forget: ForgetSet
    stop_checks: int = 0
    input_changed: list[str] = dataclasses.field(default_factory=list)


def cheap_config(info: MethodInfo):
    names = {f.name for f in dataclasses.fields(info.config_cls)}
    return info.config_cls(**{k: v for k, v in CHEAP.items() if k in names})


def _kind(spec: str) -> str:
    return "class" if spec.startswith("class:") else "samples"


def _spec(info: MethodInfo) -> str:
    if info.supports("class"):
        return "class:3"
    if info.supports("samples"):
        return "random:0.1"
    pytest.skip(f"{info.name} supports only {info.forget_categories} forgetting; digits has no concepts")


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    changed = [k for k in a if not torch.equal(a[k], b[k])]
    assert not changed, f"tensors differ: {changed[:5]}"


@pytest.fixture(scope="module")
def original_state(digits_model: tuple[SplitClassifier, ModelMeta]) -> dict[str, torch.Tensor]:
    return _state(digits_model[0])


@pytest.fixture(scope="module")
def runs(digits: SplitDataset, digits_model: tuple[SplitClassifier, ModelMeta], cpu: torch.device):
    """``get(info, k)``: the k-th (0 or 1) default-config run of a method with seed SEED, cached (slow tier)."""
    model, meta = digits_model
    cache: dict[tuple[str, int], Run] = {}

    def get(info: MethodInfo, k: int) -> Run:
        if (info.name, k) not in cache:
            forget = resolve(_spec(info), digits, seed=SEED)
            events: list[ProgressEvent] = []
            ctx = RunContext(cpu, meta, seed=SEED, progress=events.append)
            outcome = run_method(info.name, model, UnlearnData(digits, forget), ctx)
            cache[(info.name, k)] = Run(outcome, events, forget)
        return cache[(info.name, k)]

    return get


@pytest.fixture(scope="module")
def cheap_runs(digits: SplitDataset, digits_model: tuple[SplitClassifier, ModelMeta], cpu: torch.device):
    """``get(info, spec, k)``: the k-th short run of a method on `spec`, cached. Each run gets its own deep
    copy of the model and records which of that copy's tensors it changed."""
    model, meta = digits_model
    meta = dataclasses.replace(meta, recipe={**meta.recipe, "epochs": 1})  # Retrain: one epoch
    cache: dict[tuple[str, str, int], Run] = {}

    def get(info: MethodInfo, spec: str, k: int = 0) -> Run:
        if not info.supports(_kind(spec)):
            pytest.skip(f"{info.name} does not declare {_kind(spec)} forgetting")
        if (info.name, spec, k) not in cache:
            forget = resolve(spec, digits, seed=SEED)
            events: list[ProgressEvent] = []
            checks = [0]

            def should_stop() -> bool:
                checks[0] += 1
                return False

            own = copy.deepcopy(model)
            before = _state(own)
            ctx = RunContext(cpu, meta, seed=SEED, progress=events.append, should_stop=should_stop)
            outcome = run_method(info.name, own, UnlearnData(digits, forget), ctx, cheap_config(info))
            after = _state(own)
            changed = [key for key in before if not torch.equal(before[key], after[key])]
            cache[(info.name, spec, k)] = Run(outcome, events, forget, checks[0], changed)
        return cache[(info.name, spec, k)]

    return get


@pytest.fixture(scope="module")
def original_accuracy(digits: SplitDataset, digits_model: tuple[SplitClassifier, ModelMeta]) -> dict[str, float]:
    forget = resolve("class:3", digits)
    logits = predict_logits(digits_model[0], digits.test.x)
    return {
        "forget": accuracy(logits, digits.test.y, forget.test_forget_idx),
        "retain": accuracy(logits, digits.test.y, forget.test_retain_idx(len(digits.test))),
    }


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("info", METHODS, ids=IDS)
def test_runs_and_returns_a_model_of_the_same_architecture(info: MethodInfo, spec: str, cheap_runs,
                                                           original_state) -> None:
    result = cheap_runs(info, spec).outcome.result
    state = result.model.state_dict()
    assert state.keys() == original_state.keys()
    assert all(state[k].shape == original_state[k].shape for k in state)
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    assert next(result.model.parameters()).device.type == "cpu" and not result.model.training


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("info", METHODS, ids=IDS)
def test_leaves_its_input_model_unchanged(info: MethodInfo, spec: str, cheap_runs) -> None:
    changed = cheap_runs(info, spec).input_changed  # this method's own input copy
    assert not changed, f"{info.name} changed its input model: {changed[:5]}"


@pytest.mark.parametrize("info", METHODS, ids=IDS)
def test_is_deterministic_under_a_seed(info: MethodInfo, cheap_runs) -> None:
    spec = "class:3" if info.supports("class") else "random:0.1"
    first, second = cheap_runs(info, spec, 0).outcome.result, cheap_runs(info, spec, 1).outcome.result
    _assert_same_state(_state(first.model), _state(second.model))


@pytest.mark.parametrize("info", METHODS, ids=IDS)
def test_reports_monotone_progress_to_completion(info: MethodInfo, cheap_runs) -> None:
    events = cheap_runs(info, "class:3" if info.supports("class") else "random:0.1").events
    assert events, "no progress event was sent"
    steps = [e.step for e in events]
    assert steps == sorted(steps), f"progress went backwards: {steps}"
    assert all(e.total > 0 and 0 <= e.step <= e.total for e in events)
    assert events[-1].step == events[-1].total


@pytest.mark.parametrize("info", METHODS, ids=IDS)
def test_mask_if_any_is_a_01_tensor_per_parameter(info: MethodInfo, cheap_runs) -> None:
    result = cheap_runs(info, "class:3" if info.supports("class") else "random:0.1").outcome.result
    if info.localized:
        assert result.mask is not None, "a localized method returns its selection as a mask"
    if result.mask is None:
        return
    params = dict(result.model.named_parameters())
    for name, m in result.mask.items():
        assert name in params and m.shape == params[name].shape, name
        assert bool(((m == 0) | (m == 1)).all()), name


@pytest.mark.parametrize("info", METHODS, ids=IDS)
def test_refuses_an_out_of_range_config_value(info: MethodInfo) -> None:
    hints = typing.get_type_hints(info.config_cls)
    bounded = [f for f in dataclasses.fields(info.config_cls)
               if hints.get(f.name) in (int, float) and f.metadata.get("min") is not None]
    if not bounded:
        pytest.skip(f"{info.name} has no numeric parameter with a minimum")
    field = bounded[0]
    with pytest.raises(ValueError, match=field.name):
        info.config_cls(**{field.name: field.metadata["min"] - 1})


@pytest.mark.parametrize("info", METHODS, ids=IDS)
def test_honours_cancellation(info: MethodInfo, digits, digits_model, cpu) -> None:
    model, meta = digits_model
    ctx = RunContext(cpu, meta, seed=SEED, should_stop=lambda: True)
    with pytest.raises(Cancelled):
        run_method(info.name, model, UnlearnData(digits, resolve(_spec(info), digits, seed=SEED)), ctx)


@pytest.mark.parametrize("info", METHODS, ids=IDS)
def test_honours_cancellation_part_way(info: MethodInfo, digits, digits_model, cpu, cheap_runs) -> None:
    """Stops at a check in the middle of its run (not only the first one) and leaves its input alone."""
    spec = "class:3" if info.supports("class") else "random:0.1"
    n = cheap_runs(info, spec).stop_checks
    assert n >= 2, f"{info.name} checks for cancellation {n} time(s) in a whole run"
    model, meta = digits_model
    own, calls = copy.deepcopy(model), [0]

    def should_stop() -> bool:
        calls[0] += 1
        return calls[0] >= max(2, n // 2)

    before = _state(own)
    ctx = RunContext(cpu, dataclasses.replace(meta, recipe={**meta.recipe, "epochs": 1}), seed=SEED,
                     should_stop=should_stop)
    with pytest.raises(Cancelled):
        run_method(info.name, own, UnlearnData(digits, resolve(spec, digits, seed=SEED)), ctx, cheap_config(info))
    assert calls[0] == max(2, n // 2)
    _assert_same_state(_state(own), before)


@pytest.mark.parametrize("info", [m for m in METHODS if not m.needs_forget_images], ids=lambda m: m.name)
def test_never_reads_a_forget_image_when_it_says_so(info: MethodInfo, digits, digits_model, cpu,
                                                    guard_forget_images) -> None:
    model, meta = digits_model
    data, images = guard_forget_images(UnlearnData(digits, resolve("class:3", digits, seed=SEED)))
    run_method(info.name, model, data, RunContext(cpu, meta, seed=SEED), cheap_config(info))
    assert images.reads > 0  # it read retain images through the guard, and never a forget image


@pytest.mark.slow
@pytest.mark.parametrize("info", METHODS, ids=IDS)
def test_forgets_the_class_and_keeps_the_others(info: MethodInfo, runs, digits, original_accuracy) -> None:
    if not info.supports("class"):
        pytest.skip(f"{info.name} does not do class forgetting")
    run = runs(info, 0)
    logits = predict_logits(run.outcome.result.model, digits.test.x)
    forget_acc = accuracy(logits, digits.test.y, run.forget.test_forget_idx)
    retain_acc = accuracy(logits, digits.test.y, run.forget.test_retain_idx(len(digits.test)))
    assert not math.isnan(forget_acc)
    assert forget_acc <= FORGET_ACC_MAX.get(info.name, 0.2), f"forget-class test accuracy {forget_acc:.3f}"
    floor = original_accuracy["retain"] - RETAIN_DROP_MAX.get(info.name, 0.05)
    assert retain_acc >= floor, f"retained-classes test accuracy {retain_acc:.3f} < {floor:.3f}"


@pytest.mark.slow
def test_retrain_oracle_never_predicts_the_forgotten_class(runs, digits) -> None:
    run = runs(next(m for m in METHODS if m.name == "retrain"), 0)
    logits = predict_logits(run.outcome.result.model, digits.test.x)
    assert accuracy(logits, digits.test.y, run.forget.test_forget_idx) == 0.0
