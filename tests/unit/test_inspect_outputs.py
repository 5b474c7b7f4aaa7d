"""Compare's views read one pass of each model over the forget set and the test split (issue 25 item 2):
the same figures as each view's own forward passes, each model run once, nothing run again from
the workspace, and the drill-down's IG maps round-trip through the cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from unlearn_core.inspect import inspection_sample, model_scores, prediction_view, probe_view, sample_view
from unlearn_core.inspect.outputs import stored_outputs
from unlearn_core.inspect.overview import comparison_view
from unlearn_core.inspect.persample import attributions_from_arrays, attributions_to_arrays
from unlearn_core.workspace import feature_cache as fc

CPU = torch.device("cpu")


@pytest.fixture
def forwards(monkeypatch):
    """Counts the images each forward pass of the feature cache runs, per call."""
    counted: list[int] = []
    real = fc._forward

    def counting(model, x, progress, label):
        counted.append(len(x))
        return real(model, x, progress, label)

    monkeypatch.setattr(fc, "_forward", counting)
    return counted


def test_each_model_runs_once_on_the_forget_set_and_the_test_split(tmp_path: Path, shapes_run_parts, forwards) -> None:
    data, forget, models = shapes_run_parts
    outputs = stored_outputs(tmp_path, models, data, forget.forget_idx)
    n_forget, n_test = len(forget.forget_idx), len(data.test)
    sub = forget.forget_idx[::3]
    for who, model in models.items():
        got = outputs(who, "train", sub)
        with torch.no_grad():
            assert torch.allclose(got.logits, model(data.train.x[torch.as_tensor(sub)]), atol=1e-5)
        outputs(who, "train", forget.forget_idx[:5])
        outputs(who, "test", np.arange(0, n_test, 2))
        outputs(who, "test", np.array([1, 3]))
    assert forwards == [n_forget, n_test] * 3  # one pass per model and side, however many views read them
    retain = forget.retain_idx[:7]  # rows outside the forget set (a probe's negatives): run on their own
    assert [outputs(who, "train", retain).logits.shape for who in models] == [(7, data.num_classes)] * 3
    assert forwards[6:] == [7, 7, 7]
    forwards.clear()
    again = stored_outputs(tmp_path, models, data, forget.forget_idx)  # a restarted server: all read back
    for who in models:
        again(who, "train", sub), again(who, "test", np.arange(n_test)), again(who, "train", retain)
    assert forwards == []


def test_a_whole_split_already_stored_is_sliced_not_run_again(tmp_path: Path, shapes_run_parts, forwards) -> None:
    data, forget, models = shapes_run_parts
    whole = fc.model_outputs(tmp_path, models["original"], data, "train")  # what Model & data stored
    forwards.clear()
    got = stored_outputs(tmp_path, models, data, forget.forget_idx)("original", "train", forget.forget_idx[2:9])
    assert forwards == [] and torch.equal(got.logits, whole.logits[torch.as_tensor(forget.forget_idx[2:9])])


def test_views_from_stored_outputs_equal_the_views_forward_passes(tmp_path: Path, shapes_run_parts) -> None:
    data, forget, models = shapes_run_parts
    outputs = stored_outputs(tmp_path, models, data, forget.forget_idx)
    sample = inspection_sample(data, forget, seed=0, per_side=20)
    shared, direct = ({side: m.to_dict() for side, m in prediction_view(models, data, forget, device=CPU,
                                                                          outputs=o).items()} for o in (outputs, None))
    assert shared == direct and shared["test"]["n"] > 0
    direct, shared = (model_scores(models, data, sample, device=CPU, outputs=o) for o in (None, outputs))
    for who in models:
        for part in ("forget_confidence", "forget_loss", "nonmember_confidence", "forget_entropy"):
            assert np.allclose(getattr(shared[who], part), getattr(direct[who], part), atol=1e-5)
        assert np.array_equal(shared[who].forget_pred, direct[who].forget_pred)
    assert probe_view(models, data, forget, sample, device=CPU, outputs=outputs) == \
        pytest.approx(probe_view(models, data, forget, sample, device=CPU), abs=0.02)
    view, shared_view = (comparison_view(data, "class:3", 0, models, outputs=o) for o in (None, outputs))
    assert np.array_equal(view.labels, shared_view.labels) and np.array_equal(view.is_forget, shared_view.is_forget)
    for who in models:
        assert np.allclose(view.coords[who], shared_view.coords[who], atol=1e-3)


def test_drilldown_maps_round_trip_through_flat_arrays(shapes_run_parts) -> None:
    data, forget, models = shapes_run_parts
    sample = inspection_sample(data, forget, seed=0, per_side=20)
    scores = model_scores(models, data, sample, device=CPU)
    index = int(sample.forget_idx[0])
    view = sample_view(models, scores, sample.forget_idx, data.train.x[index], data.train.y[index], 0, device=CPU,
                       n_steps=8)
    arrays = attributions_to_arrays(view.attributions)
    assert sorted(arrays) == sorted(f"{who}.{part}" for who in models
                                    for part in ("maps", "targets", "delta", "relative_delta"))
    back = attributions_from_arrays(arrays)
    assert list(back) == list(models)
    for who, pa in view.attributions.items():
        assert np.array_equal(back[who].heatmaps, pa.heatmaps) and np.array_equal(back[who].delta, pa.delta)
