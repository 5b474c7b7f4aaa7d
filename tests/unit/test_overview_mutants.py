"""Known answers for the Compare page's view model (`inspect.overview`), which the mutation run
(issue 22) had not reached: which forget and test rows the shared projection draws (all of them,
or a seeded subsample at `max_points`), the rows' labels, forget mask, confidences and coords,
the flat history rows, and UNSIR's per-stage test accuracy.

The data are a dozen 2x2 images, the models bias-free linear maps or a width-2 CNN whose head
predicts one class whatever the image, so every expected value is read off the inputs (the
comments say how); nothing trains and the module runs in well under a second."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from unlearn_core.data import Split, SplitDataset
from unlearn_core.embed import shared_projection
from unlearn_core.forget import resolve
from unlearn_core.inspect.overview import comparison_view, history_rows, stage_test_accuracy
from unlearn_core.metrics import true_label_confidence
from unlearn_core.models import ModelMeta
from unlearn_core.workspace.feature_cache import ModelOutputs
from unlearn_core.workspace.store import Entry, Workspace

TRAIN_Y = [0, 1, 2, 1, 1, 0, 1, 2]  # class 1 ("class:1") is train rows 1, 3, 4, 6
TEST_Y = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]  # class 1 is test rows 1, 4, 7


def _data(image: int = 2) -> SplitDataset:
    """Every image distinct (pixel values i / 100 + the pixel's position), so each row's output
    and confidence tell which image it is."""
    def images(n: int, offset: float) -> torch.Tensor:
        base = torch.arange(n, dtype=torch.float32)[:, None, None, None] / 100 + offset
        return base + torch.arange(image * image, dtype=torch.float32).reshape(1, 1, image, image) / 10

    return SplitDataset("tiny", Split(images(8, 0.0), torch.tensor(TRAIN_Y)),
                        Split(images(10, 0.5), torch.tensor(TEST_Y)), ["a", "b", "c"])


def _linear(weight: list[list[float]]) -> nn.Module:
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3, bias=False))
    model[1].weight.data = torch.tensor(weight)
    return model.eval()


def _models() -> dict[str, nn.Module]:
    """The retrained model is the original's copy: its coords must be the original's exactly."""
    w_original = [[1.0, -2.0, 0.5, 3.0], [-1.0, 2.0, 1.5, 0.0], [0.3, 0.1, -2.0, 1.0]]
    w_unlearned = [[2.0, 0.0, -1.0, 1.0], [0.5, -1.0, 2.0, 0.5], [-1.0, 1.0, 1.0, -0.5]]
    return {"original": _linear(w_original), "unlearned": _linear(w_unlearned), "retrain": _linear(w_original)}


def _expected(data: SplitDataset, models: dict[str, nn.Module], f_idx: list[int], t_idx: list[int]):
    """What the view must hold for these rows: forget rows first, then test rows."""
    x = torch.cat([data.train.x[f_idx], data.test.x[t_idx]])
    y = torch.cat([data.train.y[f_idx], data.test.y[t_idx]])
    with torch.no_grad():
        logits = {name: m(x) for name, m in models.items()}
    n_f = len(f_idx)
    conf = {name: (true_label_confidence(out[:n_f], y[:n_f]), true_label_confidence(out[n_f:], y[n_f:]))
            for name, out in logits.items()}
    return logits, y, conf


def _check(view, data, models, f_idx, t_idx, seed) -> None:
    _check_rows(view, data, models, f_idx, t_idx, seed)
    assert np.array_equal(view.coords["retrain"], view.coords["original"])  # the same outputs, the same place


def _check_rows(view, data, models, f_idx, t_idx, seed) -> None:
    logits, y, conf = _expected(data, models, f_idx, t_idx)
    assert view.labels.tolist() == y.tolist()
    assert view.is_forget.tolist() == [True] * len(f_idx) + [False] * len(t_idx)
    for name in models:
        np.testing.assert_allclose(view.confidence[name]["forget"], conf[name][0], rtol=1e-6)
        np.testing.assert_allclose(view.confidence[name]["test"], conf[name][1], rtol=1e-6)
    coords = shared_projection(logits, "original", "pca", seed)
    assert sorted(view.coords) == ["original", "retrain", "unlearned"]
    for name in models:
        np.testing.assert_allclose(view.coords[name], coords[name], rtol=1e-5, atol=1e-5)  # float32 noise


def test_small_forget_set_every_forget_row_then_every_test_row() -> None:
    """4 forget samples <= 1500 // 2: all of them, in index order; then min(10, 1500 - 4) = 10
    test rows drawn without replacement from 10 - every test image, sorted."""
    data, models = _data(), _models()
    view = comparison_view(data, "class:1", 0, models)
    _check(view, data, models, [1, 3, 4, 6], list(range(10)), 0)
    assert view.labels.tolist() == [1, 1, 1, 1, *TEST_Y]


def test_forget_set_of_exactly_half_the_points_is_kept_whole() -> None:
    """max_points 8: 4 forget samples = 8 // 2 are all kept and draw nothing, so the 8 - 4 = 4
    test rows are the first draw of default_rng(seed) (sorted); subsampling the forget set first
    would move the test draw on."""
    data, models = _data(), _models()
    for seed in (0, 5):
        rng = np.random.default_rng(seed)
        t_idx = sorted(rng.choice(10, 4, replace=False).tolist())
        view = comparison_view(data, "class:1", seed, models, max_points=8)
        _check(view, data, models, [1, 3, 4, 6], t_idx, seed)
    # the draw differs from one taken after a forget subsample (so the check above tells them apart)
    rng = np.random.default_rng(0)
    rng.choice([1, 3, 4, 6], 4, replace=False)
    assert sorted(rng.choice(10, 4, replace=False).tolist()) != sorted(
        np.random.default_rng(0).choice(10, 4, replace=False).tolist())


def test_large_forget_set_is_subsampled_to_half_the_points_with_the_seed() -> None:
    """max_points 6: 4 forget samples > 6 // 2 = 3, so 3 of them drawn without replacement, then
    min(10, 6 - 3) = 3 test rows, both from default_rng(seed) in that order and sorted."""
    data, models = _data(), _models()
    for seed in (0, 1, 7):
        rng = np.random.default_rng(seed)
        f_idx = sorted(rng.choice(np.array([1, 3, 4, 6]), 3, replace=False).tolist())
        t_idx = sorted(rng.choice(10, 3, replace=False).tolist())
        assert len(set(f_idx)) == 3 and len(set(t_idx)) == 3
        view = comparison_view(data, "class:1", seed, models, max_points=6)
        _check(view, data, models, f_idx, t_idx, seed)
    a = comparison_view(data, "class:1", 1, models, max_points=6)
    b = comparison_view(data, "class:1", 7, models, max_points=6)
    assert not np.array_equal(a.confidence["original"]["forget"], b.confidence["original"]["forget"])


def test_a_random_forget_set_is_drawn_with_the_seed_and_the_projection_gets_it(monkeypatch) -> None:
    """"random:0.5" on 8 train images: the 4 forget rows are the ones `resolve` draws with the
    view's seed (3; seed 0 draws others), and the shared projection is fitted with that seed too."""
    data, models = _data(), _models()
    f_idx = resolve("random:0.5", data, 3).forget_idx.tolist()
    assert f_idx != resolve("random:0.5", data, 0).forget_idx.tolist()
    seeds = []

    def projection(logits, reference, method="pca", seed=0):
        seeds.append(seed)
        return shared_projection(logits, reference, method, seed)

    monkeypatch.setattr("unlearn_core.inspect.overview.shared_projection", projection)
    view = comparison_view(data, "random:0.5", 3, models)
    _check(view, data, models, f_idx, list(range(10)), 3)
    assert seeds == [3]


def test_the_default_caps_the_view_at_1500_points() -> None:
    """1,600 test images and 4 forget samples: 4 + min(1600, 1500 - 4) = 1,500 rows by default."""
    g = torch.Generator().manual_seed(0)
    small = _data()
    data = SplitDataset("tiny", small.train, Split(torch.rand(1600, 1, 2, 2, generator=g), torch.arange(1600) % 3),
                        ["a", "b", "c"])
    view = comparison_view(data, "class:1", 0, _models())
    assert len(view.labels) == 1500 and int(view.is_forget.sum()) == 4 and view.coords["original"].shape == (1500, 2)


def test_the_view_reads_the_stored_outputs_when_given() -> None:
    """With an `OutputsFn` the view takes each model's logits on its forget rows and test rows
    from it (here: other weights than the models given, which must not run)."""
    data, models = _data(), _models()
    other = {"original": _linear([[0.5, 1.0, -1.0, 2.0], [1.0, -0.5, 0.5, 0.0], [-1.0, 0.0, 1.0, 1.0]]),
             "unlearned": _linear([[1.0, 1.0, 0.0, -1.0], [0.0, 2.0, -1.0, 0.5], [1.5, -1.0, 0.5, 0.0]])}
    other["retrain"] = other["unlearned"]
    calls = []

    def outputs(who, split, rows):
        calls.append((who, split, np.asarray(rows).tolist()))
        x = (data.train if split == "train" else data.test).x[torch.as_tensor(np.asarray(rows))]
        with torch.no_grad():
            return ModelOutputs(torch.zeros(len(rows), 1), other[who](x))

    view = comparison_view(data, "class:1", 0, models, max_points=8, outputs=outputs)
    t_idx = sorted(np.random.default_rng(0).choice(10, 4, replace=False).tolist())
    assert calls == [c for who in models for c in ((who, "train", [1, 3, 4, 6]), (who, "test", t_idx))]
    _check_rows(view, data, other, [1, 3, 4, 6], t_idx, 0)
    assert np.array_equal(view.coords["retrain"], view.coords["unlearned"])


def test_the_test_rows_are_capped_by_the_test_set() -> None:
    """max_points 30 with 4 forget rows: min(10, 26) = 10 test rows, i.e. all of them."""
    data, models = _data(), _models()
    view = comparison_view(data, "class:1", 3, models, max_points=30)
    _check(view, data, models, [1, 3, 4, 6], list(range(10)), 3)


def test_an_unknown_projection_is_refused() -> None:
    with pytest.raises(ValueError, match="projection must be one of"):
        comparison_view(_data(), "class:1", 0, _models(), projection="tsne")


# -- the history table -------------------------------------------------------------------------
def _entry(entry_id: str, info: dict) -> Entry:
    return Entry(entry_id, "run", entry_id, "digits", None, 0.0, info, Path("/nonexistent") / entry_id)


def test_history_rows_flatten_each_run() -> None:
    full = {"method": "del", "forget": "class:3", "seed": 2, "model": "small_cnn", "n_forget": 144,
            "unlearned": {"forget_acc": 0.01, "test_acc": 0.9}, "retrain": {"forget_acc": 0.0, "mia": 0.5},
            "avg_gap": 1.5, "time_s": 3.0, "retrain_time_s": 30.0, "time_ratio": 0.1, "params_changed_frac": 0.02,
            "other": "not in the table"}
    short = {"method": "finetune", "forget": "random:0.1", "seed": 0, "model": "resnet18", "n_forget": 10,
             "unlearned": {}, "retrain": {"test_acc": 0.8}}
    rows = history_rows([_entry("r1", full), _entry("r2", short)])
    assert rows == [
        {"run": "r1", "method": "del", "forget": "class:3", "seed": 2, "model": "small_cnn", "n_forget": 144,
         "unlearned.forget_acc": 0.01, "unlearned.test_acc": 0.9, "retrain.forget_acc": 0.0, "retrain.mia": 0.5,
         "avg_gap": 1.5, "time_s": 3.0, "retrain_time_s": 30.0, "time_ratio": 0.1, "params_changed_frac": 0.02},
        {"run": "r2", "method": "finetune", "forget": "random:0.1", "seed": 0, "model": "resnet18", "n_forget": 10,
         "retrain.test_acc": 0.8, "avg_gap": None, "time_s": None, "retrain_time_s": None, "time_ratio": None,
         "params_changed_frac": None},
    ]
    assert list(rows[0])[:6] == ["run", "method", "forget", "seed", "model", "n_forget"]
    assert history_rows([]) == []


# -- UNSIR's stages ------------------------------------------------------------------------------
META = ModelMeta(arch="small_cnn", num_classes=3, input_shape=(1, 8, 8), dataset="tiny",
                 class_names=["a", "b", "c"], arch_options={"width": 2})


def _constant(cls: int) -> nn.Module:
    """A width-2 small CNN whose head ignores the features: it predicts `cls` for every image."""
    model = META.build("cpu")
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.eye(3)[cls] * 5)
    return model.eval()


def _stage_data() -> SplitDataset:
    x = torch.zeros(8, 1, 8, 8)
    test_y = [0, 1, 2, 0, 1, 1, 0, 2, 0, 1]  # class 1 at 1, 4, 5, 9 (4); kept: 0 x4, 2 x2
    return SplitDataset("tiny", Split(x, torch.tensor(TRAIN_Y)), Split(torch.zeros(10, 1, 8, 8), torch.tensor(test_y)),
                        ["a", "b", "c"])


def _stored_run(root: Path, artifacts: dict | None) -> Entry:
    summary = {"method": "unsir", "forget": "class:1", "seed": 0, "dataset": "tiny"}
    return Workspace(root).save_run(summary, _constant(2), META, artifacts=artifacts)


def test_stage_accuracy_of_original_impaired_and_repaired_models(tmp_path) -> None:
    """The original predicts 0 everywhere, the stored impaired state 1, the stored unlearned
    (repaired) model 2. Forgotten class 1 (4 test images): 0, 1, 0. Kept classes (4 zeros, 2 twos):
    4/6, 0, 2/6."""
    entry = _stored_run(tmp_path, {"impaired_state": _constant(1).state_dict(), "noise": torch.ones(2)})
    out = stage_test_accuracy(entry, _stage_data(), _constant(0))
    assert list(out) == ["original", "after impair", "after repair"]
    assert out["original"] == {"forgotten classes": 0.0, "kept classes": pytest.approx(4 / 6)}
    assert out["after impair"] == {"forgotten classes": 1.0, "kept classes": 0.0}
    assert out["after repair"] == {"forgotten classes": 0.0, "kept classes": pytest.approx(2 / 6)}
    assert list(out["original"]) == ["forgotten classes", "kept classes"]


def test_stage_accuracy_without_a_stored_impaired_state(tmp_path) -> None:
    """No ``impaired_state/`` tensors (another artifact only): original and repaired model only."""
    entry = _stored_run(tmp_path, {"noise": torch.ones(2)})
    out = stage_test_accuracy(entry, _stage_data(), _constant(1))
    assert list(out) == ["original", "after repair"]
    assert out["original"] == {"forgotten classes": 1.0, "kept classes": 0.0}
    assert out["after repair"] == {"forgotten classes": 0.0, "kept classes": pytest.approx(2 / 6)}
