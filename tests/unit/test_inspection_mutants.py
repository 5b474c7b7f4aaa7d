"""Known answers for `inspect.inspection`, the stored-run inspection the mutation run (issue 22)
had not reached: loading a run (its kind, the original's digest, the resolved forget set, the
models it is given or reads), the model a run started from, the CKA references (seeds, caching,
torch's random state), the layer rows, each inspection view on the inspection sample, the whole
``inspect --json`` report and its text.

Everything runs on 42 random 8x8 images of 3 classes and width-2 small CNNs that are never
trained (the one place that would train, the ceiling's second retrained model, gets a stub that
records what it was asked for), so each expected value is the inspection's building block applied
by hand to the rows the inspection must use; the module runs in a few seconds."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from unlearn_core.data import Split, SplitDataset
from unlearn_core.forget import ForgetSet, resolve
from unlearn_core.inspect import inspection
from unlearn_core.inspect.cka import cka_per_layer, layer_grams
from unlearn_core.inspect.inspection import (
    PAIRS,
    WHO,
    LayerSimilarity,
    LoadedRun,
    _with_all,
    cka_references,
    inspect_run,
    layer_similarity,
    load_run,
    model_scores,
    prediction_view,
    probe_view,
    references_info,
    relearn_view,
    run_dataset,
    run_original,
    second_retrained,
    summary_text,
    untrained_model,
)
from unlearn_core.inspect.membership import SCORES, best_attack, sample_scores
from unlearn_core.inspect.persample import still_remembered
from unlearn_core.inspect.predictions import prediction_matrices
from unlearn_core.inspect.probe import features_probe_accuracy, probe_accuracy, probe_images, probe_rows
from unlearn_core.inspect.sample import inspection_sample
from unlearn_core.models import ModelMeta, save_checkpoint, state_digest
from unlearn_core.runs.one_run import retrain_key
from unlearn_core.train import predict_logits
from unlearn_core.workspace.feature_cache import ModelOutputs
from unlearn_core.workspace.fingerprint import data_fingerprint
from unlearn_core.workspace.store import Entry, Workspace

CPU = torch.device("cpu")
META = ModelMeta(arch="small_cnn", num_classes=3, input_shape=(1, 8, 8), dataset="tiny",
                 class_names=["a", "b", "c"], arch_options={"width": 2})


def exactly(message: str) -> str:
    return "^" + re.escape(message) + "$"


def _data(n_train: int = 24, n_test: int = 18) -> SplitDataset:
    """24 train images (classes 0, 1, 2 in turn: class 1 is every third from 1) and 18 test images,
    each of its own brightness (0 to 2)."""
    g = torch.Generator().manual_seed(0)

    def images(n: int) -> torch.Tensor:
        return torch.rand(n, 1, 8, 8, generator=g) * 2 * torch.rand(n, 1, 1, 1, generator=g)

    train = Split(images(n_train), torch.arange(n_train) % 3)
    test = Split(images(n_test), torch.arange(n_test) % 3)
    return SplitDataset("tiny", train, test, ["a", "b", "c"])


def _model(seed: int) -> nn.Module:
    """A width-2 small CNN initialised with `seed`; its head is centred on the mean feature of the
    train images and scaled up, so its predictions and confidences differ from image to image."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = META.build("cpu").eval()
    with torch.no_grad():
        model.head.weight.mul_(20)
        model.head.bias.copy_(-model.head.weight @ model.features(_data().train.x).mean(0))
    return model


def _models(retrain: bool = True) -> dict[str, nn.Module]:
    models = {"original": _model(1), "unlearned": _model(2)}
    if retrain:
        models["retrain"] = _model(3)
    return models


def _entry(info: dict, entry_id: str = "run-1") -> Entry:
    return Entry(entry_id, "run", "a run", "tiny", None, 0.0, info, Path("/nonexistent") / entry_id)


def _run(spec: str = "class:1", seed: int = 2, retrain: bool = True, meta: ModelMeta | None = META,
         workspace: Workspace | None = None) -> LoadedRun:
    data = _data()
    entry = _entry({"seed": seed, "forget": spec, "method": "del"})
    return LoadedRun(entry, data, resolve(spec, data, seed), _models(retrain), workspace, meta)


def _digests(models: dict[str, nn.Module]) -> dict[str, str]:
    return {who: state_digest(m) for who, m in models.items()}


# -- loading a run -------------------------------------------------------------------------------
def test_loaded_run_seed_is_the_stored_seed_as_an_int() -> None:
    run = LoadedRun(_entry({"seed": "7"}), _data(), resolve("class:1", _data()), {})
    assert run.seed == 7 and isinstance(run.seed, int)
    assert run.workspace is None and run.meta is None


def _stored(root: Path, spec: str = "random:0.25", seed: int = 3, digest: bool = True, meta: ModelMeta = META):
    """A run of `spec` stored with its unlearned model (model 2) and its oracle (model 3)."""
    ws = Workspace(root)
    original, unlearned, retrained = _model(1), _model(2), _model(3)
    data = _data()
    key = "oracle-key"
    ws.save_model(retrained, meta, "oracle", key=key)
    summary = {"method": "del", "forget": spec, "seed": seed, "dataset": meta.dataset, "retrain_key": key}
    if digest:
        summary["model_digest"] = state_digest(original)
    entry = ws.save_run(summary, unlearned, meta)
    return ws, entry, data, original, unlearned, retrained


def test_load_run_reads_the_models_resolves_the_forget_set_with_the_run_seed(tmp_path) -> None:
    ws, entry, data, original, unlearned, retrained = _stored(tmp_path)
    run = load_run(ws, entry.id, original, data)
    assert run.entry.id == entry.id and run.data is data and run.workspace is ws
    assert list(run.models) == ["original", "unlearned", "retrain"]
    assert run.models["original"] is original
    assert _digests(run.models) == _digests({"original": original, "unlearned": unlearned, "retrain": retrained})
    expected = resolve("random:0.25", data, 3)
    assert np.array_equal(run.forget.forget_idx, expected.forget_idx) and run.forget.spec == "random:0.25"
    assert not np.array_equal(run.forget.forget_idx, resolve("random:0.25", data, 0).forget_idx)
    assert run.meta is not None and run.meta.arch == "small_cnn" and run.meta.arch_options == {"width": 2}
    assert run.meta.note == "del forgetting random:0.25"  # the stored run's own metadata header


def test_load_run_uses_the_models_it_is_given(tmp_path) -> None:
    ws, entry, data, original, unlearned, _ = _stored(tmp_path)
    given = _model(9)
    run = load_run(ws, entry.id, original, data, models=(given, None))
    assert run.models == {"original": original, "unlearned": given}
    both = load_run(ws, entry.id, original, data, models=(given, unlearned))
    assert both.models["retrain"] is unlearned and both.models["unlearned"] is given


def test_load_run_refuses_another_kind_and_another_original(tmp_path) -> None:
    ws, entry, data, original, *_ = _stored(tmp_path)
    model_id = ws.find("model", "oracle-key").id
    with pytest.raises(ValueError, match=exactly(f"{model_id!r} is a model, not a run")):
        load_run(ws, model_id, original, data)
    with pytest.raises(ValueError, match=exactly(f"run {entry.id} started from another model than the one given; "
                                                 "pass the checkpoint it started from")):
        load_run(ws, entry.id, _model(5), data)


def test_a_run_without_a_stored_digest_accepts_any_original(tmp_path) -> None:
    ws, entry, data, *_ = _stored(tmp_path, digest=False)
    other = _model(5)
    assert load_run(ws, entry.id, other, data).models["original"] is other


def test_run_dataset_rebuilds_the_data_with_the_stored_options(tmp_path) -> None:
    """A digits run stored at size 8 (the default is 16): the rebuilt data are 8x8, so are loaded
    with the stored options; `load_run` without data does the same."""
    meta = ModelMeta(arch="small_cnn", num_classes=10, input_shape=(1, 8, 8), dataset="digits",
                     dataset_options={"size": 8, "seed": 0}, arch_options={"width": 2})
    ws = Workspace(tmp_path)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        unlearned = meta.build("cpu").eval()
    entry = ws.save_run({"method": "del", "forget": "class:3", "seed": 0, "dataset": "digits"}, unlearned, meta)
    data = run_dataset(entry)
    assert data.name == "digits" and tuple(data.train.x.shape[1:]) == (1, 8, 8)
    assert data.options == {"size": 8, "seed": 0}
    run = load_run(ws, entry.id, unlearned, models=(unlearned, None))
    assert tuple(run.data.train.x.shape[1:]) == (1, 8, 8)
    assert np.array_equal(run.forget.forget_idx, np.flatnonzero(run.data.train.y.numpy() == 3))


def test_run_original_from_a_checkpoint_or_the_workspace(tmp_path, monkeypatch) -> None:
    data, model = _data(), _model(4)
    path = tmp_path / "start.safetensors"
    save_checkpoint(model, path, META)
    entry = _entry({"model": "resnet18", "seed": 5})
    ws = Workspace(tmp_path / "ws")
    loaded = run_original(entry, data, device=CPU, workspace=ws, checkpoint=str(path))
    assert state_digest(loaded) == state_digest(model)
    four = SplitDataset("four", data.train, data.test, ["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="predicts 3 classes but four has 4"):
        run_original(entry, four, device=CPU, workspace=ws, checkpoint=str(path))

    calls = []

    def obtain(data_, arch, **kwargs):
        calls.append((data_, arch, kwargs))
        return model, META

    monkeypatch.setattr("unlearn_core.runs.start_model.obtain_model", obtain)
    assert run_original(entry, data, device=CPU, workspace=ws) is model
    assert calls == [(data, "resnet18", {"seed": 0, "device": CPU, "workspace": ws})]  # seed 0: the run's seed is not the model's


# -- the CKA references --------------------------------------------------------------------------
def test_untrained_model_is_seeded_in_eval_mode_and_leaves_the_global_generator() -> None:
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    model = untrained_model(META, 4)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert not model.training and not any(m.training for m in model.modules())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(4)
        expected = META.build("cpu")
    assert state_digest(model) == state_digest(expected)
    assert state_digest(untrained_model(META, 5)) != state_digest(model)


class _Retrainer:
    """Stands in for `runs.one_run.get_retrained`: records the call, draws from torch's global
    generator (as training would) and returns a fixed model."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.model = _model(8)

    def __call__(self, model, meta, data, *, seed, device, workspace):
        self.calls.append({"model": model, "meta": meta, "data": data, "seed": seed, "device": device,
                           "workspace": workspace})
        torch.rand(3)
        return SimpleNamespace(model=self.model)


@pytest.fixture
def retrainer(monkeypatch) -> _Retrainer:
    stub = _Retrainer()
    monkeypatch.setattr("unlearn_core.runs.one_run.get_retrained", stub)
    return stub


def test_second_retrained_trains_at_the_run_seed_plus_one_and_restores_the_generator(retrainer, tmp_path) -> None:
    ws = Workspace(tmp_path)
    run = _run(seed=2, workspace=ws)
    torch.manual_seed(11)
    before = torch.random.get_rng_state()
    assert second_retrained(run, device=CPU) is retrainer.model
    assert torch.equal(torch.random.get_rng_state(), before)
    (call,) = retrainer.calls
    assert call["seed"] == 3 and call["device"] == CPU and call["workspace"] is ws
    assert call["model"] is run.models["original"] and call["meta"] is run.meta
    assert call["data"].dataset is run.data and call["data"].forget is run.forget
    assert second_retrained(_run(meta=None), device=CPU) is None and len(retrainer.calls) == 1


def test_second_retrained_without_training_finds_only_the_cached_seed(retrainer, tmp_path) -> None:
    """train=False: None without a workspace or a cached model; the model cached under the run's
    retrain key at seed + 1 (not seed, not seed + 2) otherwise. Nothing is trained."""
    ws = Workspace(tmp_path)
    run = _run(seed=2, workspace=ws)
    assert second_retrained(_run(seed=2), device=CPU, train=False) is None
    assert second_retrained(run, device=CPU, train=False) is None
    fingerprint = data_fingerprint(run.data)
    for seed, model_seed in ((2, 20), (4, 40)):
        ws.save_model(_model(model_seed), META, f"seed {seed}", key=retrain_key(META, run.forget.forget_idx, seed,
                                                                                fingerprint))
    assert second_retrained(run, device=CPU, train=False) is None
    cached = _model(30)
    ws.save_model(cached, META, "seed 3", key=retrain_key(META, run.forget.forget_idx, 3, fingerprint))
    found = second_retrained(run, device=CPU, train=False)
    assert state_digest(found) == state_digest(cached)
    assert retrainer.calls == []


def test_cka_references_floor_at_seed_plus_two_and_ceiling_when_available(retrainer) -> None:
    run = _run(seed=2)
    refs = cka_references(run, device=CPU)
    assert list(refs) == ["untrained", "retrain_2"] and refs["retrain_2"] is retrainer.model
    assert retrainer.calls[0]["device"] == CPU and retrainer.calls[0]["seed"] == 3
    assert state_digest(refs["untrained"]) == state_digest(untrained_model(META, 4))
    assert not refs["untrained"].training
    only_floor = cka_references(run, device=CPU, train=False)  # nothing cached, nothing trained
    assert list(only_floor) == ["untrained"] and len(retrainer.calls) == 1
    assert cka_references(_run(meta=None), device=CPU) == {}
    assert cka_references(_run(retrain=False), device=CPU) == {}
    assert len(retrainer.calls) == 1


def test_references_info_names_both_references_and_their_seeds() -> None:
    assert references_info(_run(seed=5)) == {
        "ceiling": "retrained model vs a second retrained model (another training seed, same forget set)",
        "floor": "retrained model vs an untrained network of the same architecture (fresh initialisation)",
        "ceiling_seed": 6,
        "floor_seed": 7,
        "estimators": {"cka_*": "biased linear CKA (Kornblith et al. 2019)",
                       "cka_*_debiased": "linear CKA over the unbiased HSIC (Song et al. 2012; Nguyen et al. 2021)"},
    }


# -- the layer rows --------------------------------------------------------------------------------
def test_layer_rows_spell_every_pair_side_and_estimator() -> None:
    def table(offset: float) -> dict:
        return {"forget": {"vs_original": [offset + 0.1, offset + 0.2], "vs_retrain": None},
                "test": {"vs_original": [offset + 0.3, offset + 0.4], "floor": [offset + 0.5, offset + 0.6]}}

    rows = LayerSimilarity(["features.0", "penultimate"], table(0.0), table(10.0)).rows()
    assert len(rows) == 2 and list(rows[0])[0] == "name"
    keys = {f"cka_{pair}{est}{side}" for pair in PAIRS for est in ("", "_debiased") for side in ("", "_test")}
    assert set(rows[0]) == keys | {"name"} and len(keys) == 20
    first = {k: v for k, v in rows[0].items() if v is not None}
    assert first == {"name": "features.0", "cka_vs_original": 0.1, "cka_vs_original_test": 0.3, "cka_floor_test": 0.5,
                     "cka_vs_original_debiased": 10.1, "cka_vs_original_debiased_test": 10.3,
                     "cka_floor_debiased_test": 10.5}
    second = {k: v for k, v in rows[1].items() if v is not None}
    assert second == {"name": "penultimate", "cka_vs_original": 0.2, "cka_vs_original_test": 0.4, "cka_floor_test": 0.6,
                      "cka_vs_original_debiased": 10.2, "cka_vs_original_debiased_test": 10.4,
                      "cka_floor_debiased_test": 10.6}
    no_debiased = LayerSimilarity(["penultimate"], table(0.0)).rows()[0]
    assert no_debiased["cka_vs_original"] == 0.1 and no_debiased["cka_vs_original_debiased"] is None


def test_layer_similarity_compares_each_pair_on_each_side_with_both_estimators() -> None:
    """Forget side: the sample's train forget images; test side: its kept test images. Pairs of an
    absent model (no second retrained model here) are None."""
    run = _run()
    sample = inspection_sample(run.data, run.forget, seed=2, per_side=6)
    refs = {"untrained": _model(6)}
    sim = layer_similarity(run.models, run.data, sample, device=CPU, references=refs)
    everyone = {**run.models, **refs}
    sides = {"forget": run.data.train.x[sample.forget_idx], "test": run.data.test.x[sample.test_idx]}
    assert sim.names == ["features.0", "features.1", "features.3", "features.5", "penultimate"]
    for side, x in sides.items():
        grams = {who: layer_grams(m, x, device=CPU) for who, m in everyone.items()}
        assert list(sim.cka[side]) == list(PAIRS) and list(sim.cka_debiased[side]) == list(PAIRS)
        for pair, (a, b) in PAIRS.items():
            if pair == "ceiling":
                assert sim.cka[side][pair] is None and sim.cka_debiased[side][pair] is None
                continue
            assert sim.cka[side][pair] == pytest.approx(cka_per_layer(grams[a], grams[b]))
            assert sim.cka_debiased[side][pair] == pytest.approx(cka_per_layer(grams[a], grams[b], debiased=True))
    assert sim.cka["forget"]["vs_original"] != pytest.approx(sim.cka["test"]["vs_original"])
    assert sim.cka["forget"]["floor"] != pytest.approx(sim.cka_debiased["forget"]["floor"])
    plain = layer_similarity(run.models, run.data, sample, device=CPU)
    assert plain.cka["forget"]["floor"] is None and plain.cka["forget"]["vs_retrain"] == sim.cka["forget"]["vs_retrain"]


# -- the inspection views ------------------------------------------------------------------------
def _predictions(models: dict[str, nn.Module], x: torch.Tensor) -> dict[str, np.ndarray]:
    return {who: predict_logits(m, x).argmax(1).numpy() for who, m in models.items()}


def test_prediction_view_on_every_forget_sample_and_the_forgotten_test_slice() -> None:
    run = _run()
    view = prediction_view(run.models, run.data, run.forget, device=CPU)
    forget_x, slice_x = run.data.train.x[run.forget.forget_idx], run.data.test.x[run.forget.test_forget_idx]
    assert view["forget"].n == 8 and view["test"].n == 6
    assert view["forget"].to_dict() == prediction_matrices(_predictions(run.models, forget_x), 3).to_dict()
    assert view["test"].to_dict() == prediction_matrices(_predictions(run.models, slice_x), 3).to_dict()
    preds = _predictions(run.models, forget_x)
    assert len(set(preds["original"].tolist())) > 1  # the matrices are not one cell


def test_prediction_view_without_a_test_slice() -> None:
    run = _run("random:0.25")
    view = prediction_view(run.models, run.data, run.forget, device=CPU)
    assert list(view) == ["test", "forget"] and view["test"] is None and view["forget"].n == 6
    empty = dataclasses.replace(run.forget, test_forget_idx=np.zeros(0, dtype=np.int64))
    assert prediction_view(run.models, run.data, empty, device=CPU)["test"] is None


def test_model_scores_on_the_forget_sample_and_the_nonmembers() -> None:
    run = _run()
    sample = inspection_sample(run.data, run.forget, seed=2, per_side=5)
    scores = model_scores(run.models, run.data, sample, device=CPU)
    assert list(scores) == ["original", "unlearned", "retrain"]
    f_x, f_y = run.data.train.x[sample.forget_idx], run.data.train.y[sample.forget_idx]
    n_x, n_y = run.data.test.x[sample.nonmember_idx], run.data.test.y[sample.nonmember_idx]
    for who, m in run.models.items():
        expected = sample_scores(predict_logits(m, f_x), f_y, predict_logits(m, n_x), n_y)
        for field in dataclasses.fields(expected):
            np.testing.assert_allclose(getattr(scores[who], field.name), getattr(expected, field.name), rtol=1e-6)
    assert len(scores["original"].forget_confidence) == 5 and len(scores["original"].nonmember_confidence) == 5


def test_probe_view_probes_every_model_with_the_sample_seed() -> None:
    """36 test images: 12 of the forgotten class against 12 others, enough for the probe's
    held-out accuracy to depend on its seed (the sample's)."""
    data = _data(24, 36)
    run = LoadedRun(_entry({"seed": 2, "forget": "class:1"}), data, resolve("class:1", data, 2), _models())
    sample = inspection_sample(run.data, run.forget, seed=2, per_side=12)
    view = probe_view(run.models, run.data, run.forget, sample, device=CPU)
    pos, neg, what = probe_images(run.data, run.forget, sample)
    assert list(view) == ["what", "original", "unlearned", "retrain"]
    assert view["what"] == what == "test images of the forgotten slice vs other test images"
    expected = {who: probe_accuracy(m, pos, neg, device=CPU, seed=2) for who, m in run.models.items()}
    assert {who: view[who] for who in run.models} == expected
    seed0 = {who: probe_accuracy(m, pos, neg, device=CPU, seed=0) for who, m in run.models.items()}
    assert seed0 != expected  # the seed matters here, so the check above pins it


def test_relearn_view_splits_the_shots_with_the_sample_seed() -> None:
    run = _run(seed=2)
    sample = inspection_sample(run.data, run.forget, seed=2, per_side=8)
    result = relearn_view(run.models, run.data, sample, steps=2, shots=3, lr=0.5, device=CPU)
    assert result.steps == [0, 1, 2] and result.shots == 3 and result.n_eval == 5
    assert result.lr == 0.5 and result.seed == 2


class _Outputs:
    """An `OutputsFn` that answers from *other* models than the views are given (seeds 11-13), so
    a view that ran its own models instead would show; it records each request."""

    def __init__(self, data: SplitDataset) -> None:
        self.data = data
        self.models = {"original": _model(11), "unlearned": _model(12), "retrain": _model(13)}
        self.calls: list[tuple[str, str, list[int]]] = []

    def __call__(self, who: str, split: str, rows: np.ndarray) -> ModelOutputs:
        self.calls.append((who, split, np.asarray(rows).tolist()))
        x = (self.data.train if split == "train" else self.data.test).x[torch.as_tensor(np.asarray(rows))]
        model = self.models[who]
        with torch.no_grad():
            return ModelOutputs(model.features(x), model(x))


def test_views_read_the_stored_outputs_when_given() -> None:
    """Prediction matrices, membership scores and the probe from an `OutputsFn`: the figures of
    the outputs' models on the rows each view needs, and no forward pass of the views' models."""
    run = _run(seed=2)
    sample = inspection_sample(run.data, run.forget, seed=2, per_side=6)
    outputs = _Outputs(run.data)
    view = prediction_view(run.models, run.data, run.forget, device=CPU, outputs=outputs)
    forget_rows, slice_rows = run.forget.forget_idx.tolist(), run.forget.test_forget_idx.tolist()
    assert outputs.calls == [(who, "train", forget_rows) for who in WHO] + [(who, "test", slice_rows) for who in WHO]
    other = outputs.models
    assert view["forget"].to_dict() == prediction_matrices(_predictions(other, run.data.train.x[forget_rows]), 3).to_dict()
    assert view["test"].to_dict() == prediction_matrices(_predictions(other, run.data.test.x[slice_rows]), 3).to_dict()
    assert view["forget"].to_dict() != prediction_view(run.models, run.data, run.forget, device=CPU)["forget"].to_dict()

    outputs.calls.clear()
    scores = model_scores(run.models, run.data, sample, device=CPU, outputs=outputs)
    f_rows, n_rows = sample.forget_idx.tolist(), sample.nonmember_idx.tolist()
    assert outputs.calls == [c for who in WHO for c in ((who, "train", f_rows), (who, "test", n_rows))]
    for who, m in other.items():
        expected = sample_scores(predict_logits(m, run.data.train.x[f_rows]), run.data.train.y[f_rows],
                                 predict_logits(m, run.data.test.x[n_rows]), run.data.test.y[n_rows])
        for field in dataclasses.fields(expected):
            np.testing.assert_allclose(getattr(scores[who], field.name), getattr(expected, field.name), rtol=1e-5)


@pytest.mark.parametrize(("spec", "split"), [("class:1", "test"), ("random:0.25", "train")])
def test_probe_view_reads_the_stored_features_of_the_probe_rows(spec, split) -> None:
    """The probe on the outputs' penultimate features of `probe_rows`' positives and negatives
    (the test split for a class, train rows for random samples), with the sample's seed."""
    data = _data(24, 36)
    run = LoadedRun(_entry({"seed": 2, "forget": spec}), data, resolve(spec, data, 2), _models())
    sample = inspection_sample(run.data, run.forget, seed=2, per_side=12)
    outputs = _Outputs(data)
    rows_split, pos, neg, what = probe_rows(run.data, run.forget, sample)
    assert rows_split == split
    view = probe_view(run.models, run.data, run.forget, sample, device=CPU, outputs=outputs)
    assert outputs.calls == [c for who in WHO for c in ((who, split, pos.tolist()), (who, split, neg.tolist()))]
    assert view["what"] == what

    def features(who, rows):
        part = data.train if split == "train" else data.test
        with torch.no_grad():
            return outputs.models[who].features(part.x[torch.as_tensor(rows)])

    expected = {who: features_probe_accuracy(features(who, pos), features(who, neg), seed=2) for who in WHO}
    assert {who: view[who] for who in WHO} == expected
    seed0 = {who: features_probe_accuracy(features(who, pos), features(who, neg), seed=0) for who in WHO}
    assert seed0 != expected


def test_with_all_puts_every_model_first() -> None:
    assert _with_all({"what": "x", "unlearned": 0.5}) == {"original": None, "unlearned": 0.5, "retrain": None,
                                                          "what": "x"}
    assert list(_with_all({"what": "x"})) == ["original", "unlearned", "retrain", "what"]


# -- the whole report ----------------------------------------------------------------------------
def _expected_report(run: LoadedRun, per_side: int, steps: int, shots: int, lr: float, remembered: int,
                     refs: dict[str, nn.Module]) -> dict:
    sample = inspection_sample(run.data, run.forget, seed=run.seed, per_side=per_side)
    scores = model_scores(run.models, run.data, sample, device=CPU)
    matrices = prediction_view(run.models, run.data, run.forget, device=CPU)
    classes = ["a", "b", "c"]
    test = matrices["test"]
    return {
        "layers": layer_similarity(run.models, run.data, sample, device=CPU, references=refs).rows(),
        "prediction_matrix": {"classes": classes, **_with_all(matrices["forget"].to_dict())},
        "prediction_matrix_test": None if test is None else {"classes": classes, **_with_all(test.to_dict())},
        "probe": _with_all(probe_view(run.models, run.data, run.forget, sample, device=CPU)),
        "relearn": _with_all(relearn_view(run.models, run.data, sample, steps=steps, shots=shots, lr=lr,
                                          device=CPU).to_dict()),
        "still_remembered": still_remembered(scores, sample.forget_idx, remembered) if "retrain" in scores else None,
        "membership": {s: _with_all({who: best_attack(sc, s) for who, sc in scores.items()}) for s in SCORES},
        "sample": {"n_forget": len(sample.forget_idx), "n_test": len(sample.test_idx),
                   "n_nonmember": len(sample.nonmember_idx), "seed": run.seed},
    }


def _same(a, b) -> bool:
    """Equality that takes NaN == NaN (membership figures of an empty side)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, nan_ok=True)
    return a == b


def test_inspect_run_reports_every_inspection_of_the_run(retrainer) -> None:
    run = _run(seed=2)
    report = inspect_run(run, device=CPU, per_side=6, relearn_steps=2, shots=2, lr=0.5, remembered=2)
    assert list(report) == ["run_id", "method", "forget", "layers", "prediction_matrix", "prediction_matrix_test",
                            "probe", "relearn", "still_remembered", "membership", "sample", "cka_references"]
    assert report["run_id"] == "run-1" and report["method"] == "del" and report["forget"] == "class:1"
    refs = {"untrained": untrained_model(META, 4), "retrain_2": retrainer.model}
    expected = _expected_report(run, 6, 2, 2, 0.5, 2, refs)
    for key, value in expected.items():
        assert _same(report[key], value), key
    assert report["sample"] == {"n_forget": 6, "n_test": 6, "n_nonmember": 6, "seed": 2}
    assert report["relearn"]["steps"] == [0, 1, 2] and report["relearn"]["shots"] == 2 and report["relearn"]["lr"] == 0.5
    assert report["cka_references"] == references_info(run)
    assert report["layers"][0]["cka_ceiling"] is not None and report["layers"][0]["cka_floor"] is not None
    assert len(report["still_remembered"]) <= 2 and len(retrainer.calls) == 1


def test_inspect_run_without_references_or_retrained_model(retrainer) -> None:
    """references=False: nothing trained, the reference fields None. Without the retrained model:
    its entries None, no still-remembered list, no references (they are measured against it)."""
    run = _run("random:0.25", seed=2)
    report = inspect_run(run, device=CPU, per_side=5, relearn_steps=1, shots=2, lr=0.1, references=False)
    assert report["cka_references"] is None and report["prediction_matrix_test"] is None
    assert report["layers"][0]["cka_ceiling"] is None and report["layers"][0]["cka_floor"] is None
    assert report["sample"] == {"n_forget": 5, "n_test": 5, "n_nonmember": 5, "seed": 2}
    assert _same(report["still_remembered"], _expected_report(run, 5, 1, 2, 0.1, 10, {})["still_remembered"])
    assert retrainer.calls == []
    alone = _run(seed=3, retrain=False)
    report = inspect_run(alone, device=CPU, per_side=6, relearn_steps=1, shots=2, lr=0.1)
    assert report["still_remembered"] is None and report["cka_references"] is None
    assert report["probe"]["retrain"] is None and report["relearn"]["retrain"] is None
    assert report["prediction_matrix"]["retrain"] is None and report["membership"]["loss"]["retrain"] is None
    assert report["sample"]["seed"] == 3 and retrainer.calls == []


def test_inspect_run_defaults(retrainer) -> None:
    """Defaults on 90 train images (30 of class 1) and 30 test images: the whole forget set is the
    sample (300 per side), 16 shots and 10 steps at lr 0.01, and a still-remembered list of 10 -
    the retrained model here is nearly sure no image is class 1, so all 30 forget samples are
    remembered beyond it and the list is cut at 10."""
    data = _data(90, 30)
    models = _models()
    with torch.no_grad():
        models["retrain"].head.bias[1] = -50.0
    run = LoadedRun(_entry({"seed": 1, "forget": "class:1", "method": "del"}), data, resolve("class:1", data, 1),
                    models, None, META)
    report = inspect_run(run, device=CPU)
    assert report["sample"] == {"n_forget": 30, "n_test": 20, "n_nonmember": 10, "seed": 1}
    relearn = report["relearn"]
    assert relearn["steps"] == list(range(11)) and relearn["shots"] == 16 and relearn["n_eval"] == 14
    assert relearn["lr"] == 0.01 and relearn["seed"] == 1
    assert len(report["still_remembered"]) == 10
    assert report["cka_references"] is not None and len(retrainer.calls) == 1


def test_every_step_runs_on_the_device_it_is_given(retrainer, monkeypatch) -> None:
    """The inspection passes its device to every building block that runs a model (on a GPU
    machine a step left without it would run on the CPU or fail): spies record the device each call
    receives ("missing" when none is passed)."""
    seen: dict[str, list] = {}
    for name in ("layer_grams", "read_logits", "probe_accuracy", "relearn_test"):
        def spy(*args, _real=getattr(inspection, name), _name=name, **kwargs):
            seen.setdefault(_name, []).append(kwargs.get("device", "missing"))
            return _real(*args, **kwargs)

        monkeypatch.setattr(inspection, name, spy)
    inspect_run(_run(seed=2), device=CPU, per_side=6, relearn_steps=1, shots=2, lr=0.1)
    # 5 models (3 + 2 references) x 2 sides; 3 models x (forget, slice) + 3 x (forget, nonmembers)
    assert {name: len(devices) for name, devices in seen.items()} == {
        "layer_grams": 10, "read_logits": 12, "probe_accuracy": 3, "relearn_test": 1}
    assert all(device == CPU for devices in seen.values() for device in devices), seen
    assert [call["device"] for call in retrainer.calls] == [CPU]


def test_summary_text_spells_each_line() -> None:
    report = {
        "run_id": "r7", "method": "del", "forget": "class:1",
        "layers": [{"name": "features.0", "cka_vs_original": 0.91234, "cka_vs_retrain": None,
                    "cka_ceiling": 0.5, "cka_floor": 0.25, "cka_vs_original_debiased": 0.1,
                    "cka_vs_retrain_debiased": 0.2, "cka_ceiling_debiased": None},
                   {"name": "penultimate", "cka_vs_original": 1.0, "cka_vs_retrain": 0.0,
                    "cka_vs_original_debiased": None, "cka_vs_retrain_debiased": 0.3333}],
        "probe": {"what": "forget samples vs retain samples of the same classes", "original": 0.75,
                  "unlearned": 0.5, "retrain": None},
        "relearn": {"steps": [0, 1, 2], "shots": 16, "original": [0.1, 0.9, 1.0], "unlearned": [0.0, 0.2, 0.4],
                    "retrain": None},
    }
    assert summary_text(report).split("\n") == [
        "run r7 (del forgetting class:1)",
        "linear CKA on forget samples (unlearned vs original / vs retrained; references vs retrained: "
        "ceiling = retrained at another seed, floor = untrained), biased | debiased:",
        "  features.0   0.912 / – (ceiling 0.500, floor 0.250) | 0.100 / 0.200 (ceiling –, floor –)",
        "  penultimate  1.000 / 0.000 (ceiling –, floor –) | – / 0.333 (ceiling –, floor –)",
        "probe accuracy (forget samples vs retain samples of the same classes): original 0.750, unlearned 0.500, "
        "retrain –",
        "relearn: forget accuracy after 2 steps on 16 samples: original 1.000, unlearned 0.400, retrain –",
    ]


def test_forget_set_without_test_slice_is_probed_on_train_samples() -> None:
    """A random forget set: the probe reads forget samples against retain samples (the sample's
    `nonmember_is_slice` is False), which the probe view reports."""
    run = _run("random:0.25", seed=2)
    sample = inspection_sample(run.data, run.forget, seed=2, per_side=6)
    view = probe_view(run.models, run.data, run.forget, sample, device=CPU)
    assert view["what"] == "forget samples vs retain samples of the same classes"
    assert isinstance(run.forget, ForgetSet) and run.forget.test_forget_idx is None
