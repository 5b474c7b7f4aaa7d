"""The waits Compare announces are measured, not typed in (issue 25 item 2): the CKA estimate
(`cka.estimate_layer_grams_seconds`), the model-outputs estimate (`outputs.estimate_outputs_seconds`)
and what is left to compute (`outputs.pending_images`). Known answers with a stubbed clock: no
test here depends on how fast the machine is."""

from __future__ import annotations

import copy
import itertools
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from unlearn_core.inspect import WorkEstimate, estimate_layer_similarity, inspection_sample
from unlearn_core.inspect.cka import estimate_layer_grams_seconds
from unlearn_core.inspect.inspection import LoadedRun, estimate_prediction_view, estimate_probe_view
from unlearn_core.inspect.outputs import estimate_outputs_seconds, pending_images, stored_outputs
from unlearn_core.models import build_model
from unlearn_core.models.defaults import load_default

CPU = torch.device("cpu")


def ticking() -> tuple[list[float], object]:
    """A clock that advances exactly 1 s per reading, and the list of its readings."""
    readings: list[float] = []
    counter = itertools.count()

    def clock() -> float:
        readings.append(float(next(counter)))
        return readings[-1]

    return readings, clock


def _cnn() -> torch.nn.Module:
    """small_cnn of width 8 on 16 x 16: layers 8·16·16, 8·16·16, 16·8·8, 16·4·4 and 16 values wide."""
    torch.manual_seed(0)
    return build_model("small_cnn", num_classes=4, in_channels=1, image_size=16, width=8)


WIDTHS = [2048, 2048, 1024, 256, 16]


def test_cka_estimate_known_answer_with_a_stubbed_clock() -> None:
    """The forward pass on the 10 probe images reads 1 s (0.1 s per image, scaled to each side's
    size); the widest layer's Gram at the largest size reads 1 s (scaled by the widths' sum over
    the widest, and by (size / largest)^2); all of it once per model."""
    x = torch.rand(40, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    readings, clock = ticking()
    got = estimate_layer_grams_seconds(_cnn(), x, n_models=3, sizes=[40, 20], device=CPU, probe=10, clock=clock)
    gram = sum(WIDTHS) / max(WIDTHS)
    assert got == pytest.approx(3 * ((40 / 10 + gram) + (20 / 10 + gram * (20 / 40) ** 2)))
    assert len(readings) == 4  # two timings, nothing else read from the clock


def test_cka_estimate_scales_linearly_in_the_models_and_is_zero_for_no_work() -> None:
    x = torch.rand(12, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    one = estimate_layer_grams_seconds(_cnn(), x, n_models=1, sizes=[12, 12], device=CPU, probe=6, clock=ticking()[1])
    five = estimate_layer_grams_seconds(_cnn(), x, n_models=5, sizes=[12, 12], device=CPU, probe=6, clock=ticking()[1])
    assert five == pytest.approx(5 * one) and one == pytest.approx(2 * (12 / 6 + sum(WIDTHS) / max(WIDTHS)))
    readings, clock = ticking()
    assert estimate_layer_grams_seconds(_cnn(), x, n_models=0, sizes=[12], device=CPU, clock=clock) == 0.0
    assert estimate_layer_grams_seconds(_cnn(), x, n_models=2, sizes=[0, 0], device=CPU, clock=clock) == 0.0
    assert readings == []  # nothing to do: nothing run or timed
    with pytest.raises(ValueError, match="non-negative"):
        estimate_layer_grams_seconds(_cnn(), x, n_models=-1, sizes=[12], device=CPU)


def test_cka_estimate_leaves_the_model_as_it_was() -> None:
    model = _cnn().train()
    before = copy.deepcopy(model.state_dict())
    estimate_layer_grams_seconds(model, torch.rand(8, 1, 16, 16), n_models=2, sizes=[8], device=CPU)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # BatchNorm statistics too


def test_outputs_estimate_known_answer_and_zero_without_work() -> None:
    x = torch.rand(30, 1, 16, 16)
    readings, clock = ticking()
    assert estimate_outputs_seconds(_cnn(), x, n_images=1000, probe=10, clock=clock) == pytest.approx(1000 / 10)
    assert len(readings) == 2
    readings.clear()
    assert estimate_outputs_seconds(_cnn(), x, n_images=0, clock=clock) == 0.0 and readings == []
    with pytest.raises(ValueError, match="non-negative"):
        estimate_outputs_seconds(_cnn(), x, n_images=-3)


# -- what is left to compute, on a small shapes run ------------------------------------------------
def test_pending_images_counts_each_pass_once_and_nothing_once_stored(tmp_path: Path, shapes_run_parts) -> None:
    data, forget, models = shapes_run_parts
    n_forget, n_test = len(forget.forget_idx), len(data.test)
    retain = forget.retain_idx[:7]
    requests = [("train", forget.forget_idx[:5]), ("train", forget.forget_idx), ("test", np.arange(0, n_test, 2)),
                ("test", np.array([1, 3])), ("train", retain)]
    assert pending_images(tmp_path, models, data, forget.forget_idx, requests) == \
        {who: n_forget + n_test + 7 for who in models}  # the forget rows, the whole test split, the 7 retain rows
    outputs = stored_outputs(tmp_path, models, data, forget.forget_idx)
    outputs("unlearned", "test", np.array([0]))  # one model's test split is now in the workspace
    assert pending_images(tmp_path, models, data, forget.forget_idx, requests) == \
        {"original": n_forget + n_test + 7, "unlearned": n_forget + 7, "retrain": n_forget + n_test + 7}
    for who in models:
        for split, rows in requests:
            outputs(who, split, rows)
    assert pending_images(tmp_path, models, data, forget.forget_idx, requests) == {who: 0 for who in models}


def test_run_estimates_count_models_sides_and_what_is_stored(tmp_path: Path, shapes_run_parts) -> None:
    """On a run of the three models: the CKA counts the untrained reference (no second retrained
    model in a run without workspace) and both sides of the sample; the matrices' and probe's
    estimates are nothing once the outputs they read are stored."""
    data, forget, models = shapes_run_parts
    meta = load_default("shapes", device=CPU)[1]
    run = LoadedRun(SimpleNamespace(info={"seed": 0}), data, forget, models, workspace=None, meta=meta)
    sample = inspection_sample(data, forget, seed=0, per_side=40)
    cka = estimate_layer_similarity(run, sample, device=CPU)
    assert (cka.n_models, cka.sizes) == (4, (len(sample.forget_idx), len(sample.test_idx))) and cka.seconds > 0
    without_retrain = LoadedRun(run.entry, data, forget, {w: m for w, m in models.items() if w != "retrain"},
                                workspace=None, meta=meta)
    assert estimate_layer_similarity(without_retrain, sample, device=CPU).n_models == 2  # no references either

    matrices = estimate_prediction_view(run, tmp_path)
    n_test_slice = len(forget.test_forget_idx)
    assert (matrices.n_models, matrices.sizes) == (3, (len(forget.forget_idx) + len(data.test),))
    assert n_test_slice > 0 and matrices.seconds > 0
    outputs = stored_outputs(tmp_path, models, data, forget.forget_idx)
    for who in models:
        outputs(who, "train", forget.forget_idx), outputs(who, "test", forget.test_forget_idx)
    assert estimate_prediction_view(run, tmp_path) == WorkEstimate(0.0, 0, ())
    assert estimate_probe_view(run, sample, tmp_path) == WorkEstimate(0.0, 0, ())  # the probe reads the test split
