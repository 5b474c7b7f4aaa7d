"""Methods whose damage grows with the number of steps on D_f alone (SCRUB's unbounded max pass,
Boundary Shrink's fine-tuning on relabelled D_f) must keep the other classes when the forgotten
class is large: the shipped shapes model forgetting a sixth of shapes (1,000 images), not digits'
146. (Their defaults are measured on the shipped models; on an Adam-trained shapes model of
width 16 they kept 8.6 and 27 points less, so expect to tune them for another model.)"""

from __future__ import annotations

import pytest
import torch

from unlearn_core.data import load_dataset
from unlearn_core.forget import resolve
from unlearn_core.methods import RunContext, UnlearnData, run_method
from unlearn_core.models.defaults import load_default
from unlearn_core.train import accuracy, predict_logits

# method -> allowed drop of the kept classes' test accuracy below the original model's
KEPT_DROP_MAX = {"scrub": 0.03, "boundary_shrink": 0.12}  # Boundary Shrink trains on D_f alone


@pytest.fixture(scope="module")
def shapes_full():
    return load_dataset("shapes")


@pytest.mark.slow
@pytest.mark.parametrize("method", list(KEPT_DROP_MAX))
def test_forgets_a_large_class_and_keeps_the_others(method: str, shapes_full, cpu) -> None:
    model, meta = load_default("shapes", device=cpu)
    forget = resolve("class:3", shapes_full)
    outcome = run_method(method, model, UnlearnData(shapes_full, forget), RunContext(cpu, meta, seed=0))
    kept = forget.test_retain_idx(len(shapes_full.test))
    before = accuracy(predict_logits(model, shapes_full.test.x), shapes_full.test.y, kept)
    logits = predict_logits(outcome.result.model, shapes_full.test.x)
    assert torch.isfinite(logits).all()
    assert accuracy(logits, shapes_full.test.y, forget.test_forget_idx) <= 0.1
    assert accuracy(logits, shapes_full.test.y, kept) >= before - KEPT_DROP_MAX[method]
