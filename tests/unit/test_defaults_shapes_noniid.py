"""Every seed method at its defaults on shapes non-IID (one seed, the small shapes fixture): retain
accuracy within 3 points of retraining (issue 13). UNSIR and concept poisoning do not do sample
forgetting, so only the seed methods that do are run (the skip says so)."""

from __future__ import annotations

import pytest

from unlearn_core.forget import resolve
from unlearn_core.methods import RunContext, UnlearnData, get_method, run_method
from unlearn_core.train import accuracy, predict_logits

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("single_thread")]

SEED_METHODS = ("del", "unsir", "layer_attack", "rfa", "concept_poisoning")
SPEC = "random:0.1@2,5"
MAX_RETAIN_DROP = 0.03


@pytest.fixture(scope="module")
def noniid(shapes_small) -> UnlearnData:
    return UnlearnData(shapes_small, resolve(SPEC, shapes_small, 0))


def _retain_accuracy(model, data: UnlearnData) -> float:
    idx = data.forget.retain_idx
    return accuracy(predict_logits(model, data.dataset.train.x[idx]), data.dataset.train.y[idx])


@pytest.fixture(scope="module")
def retrained_retain_acc(shapes_model, noniid, cpu) -> float:
    model, meta = shapes_model
    return _retain_accuracy(run_method("retrain", model, noniid, RunContext(cpu, meta, seed=0)).result.model, noniid)


# DEL runs at its sample-forget-set budget here (0.10; 0.30 measured 88 ± 7% retain against 99.9% over the
# benchmark's 3 seeds, docs/tuning.md#del-measured).


@pytest.mark.parametrize("name", SEED_METHODS)
def test_seed_method_defaults_keep_retain_accuracy_within_3_points_of_retraining(
    name, shapes_model, noniid, retrained_retain_acc, cpu
):
    if not get_method(name).supports(noniid.forget.category):
        pytest.skip(f"{name} does not do sample forgetting ({SPEC})")
    model, meta = shapes_model
    unlearned = run_method(name, model, noniid, RunContext(cpu, meta, seed=0)).result.model
    retain_acc = _retain_accuracy(unlearned, noniid)
    assert retain_acc >= retrained_retain_acc - MAX_RETAIN_DROP, (
        f"{name}: retain accuracy {retain_acc:.3f}, retrained {retrained_retain_acc:.3f}"
    )
