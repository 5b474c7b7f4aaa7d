"""Inspection depth with known answers: linear CKA, prediction matrices, the threshold attack, the
still-remembered ranking, the relearn test, `inspect` on a Retrain run, external checkpoints."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from unlearn_core.cli import main
from unlearn_core.forget import resolve
from unlearn_core.inspect import attack_at, feature_layers, layer_grams, linear_cka, membership_score, prediction_matrix
from unlearn_core.inspect.cka import cka_per_layer, linear_cka_gram
from unlearn_core.inspect.membership import SampleScores, nearest_to_threshold
from unlearn_core.inspect.persample import still_remembered
from unlearn_core.inspect.relearn import relearn_curve, split_shots
from unlearn_core.models import build_model, save_checkpoint, state_digest
from unlearn_core.runs.external import evaluate_external, load_external
from unlearn_core.runs.one_run import unlearn_run
from unlearn_core.train import accuracy, predict_logits
from unlearn_core.workspace.store import Workspace

CPU = torch.device("cpu")


# -- CKA -----------------------------------------------------------------------------------------
def test_cka_of_one_dimensional_features_is_squared_correlation() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(50)
    y = 0.5 * x + rng.standard_normal(50)
    expected = np.corrcoef(x, y)[0, 1] ** 2  # linear CKA of 1-D features = Pearson r²
    assert linear_cka(torch.as_tensor(x)[:, None], torch.as_tensor(y)[:, None]) == pytest.approx(expected, abs=1e-12)


def test_cka_is_invariant_to_rotation_and_scale_but_not_to_other_maps() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 12, generator=gen, dtype=torch.float64)
    y = torch.randn(64, 7, generator=gen, dtype=torch.float64) + x[:, :7]
    q, _ = torch.linalg.qr(torch.randn(12, 12, generator=gen, dtype=torch.float64))  # orthogonal
    base = linear_cka(x, y)
    assert linear_cka(x, x @ q) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x @ q * 3.0, y) == pytest.approx(base, abs=1e-12)
    squash = torch.diag(torch.linspace(0.1, 5.0, 12, dtype=torch.float64))  # anisotropic scaling
    assert abs(linear_cka(x @ squash, y) - base) > 1e-3


def test_cka_of_a_model_with_itself_is_one_on_every_layer_and_rotation_invariant() -> None:
    torch.manual_seed(0)
    model = build_model("small_cnn", num_classes=10, in_channels=1, image_size=16, width=8)
    names = [name for name, _ in feature_layers(model)]
    assert names == ["features.0", "features.1", "features.3", "features.5", "penultimate"]
    x = torch.rand(40, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    grams = layer_grams(model, x, device=CPU)
    assert cka_per_layer(grams, grams) == pytest.approx([1.0] * len(names), abs=1e-12)
    rotated = copy.deepcopy(model)  # rotate the penultimate features: append an orthogonal map to `features`
    q, _ = torch.linalg.qr(torch.randn(16, 16, generator=torch.Generator().manual_seed(2)))
    rot = torch.nn.Linear(16, 16, bias=False)
    rot.weight.data = q.T.contiguous()
    rotated.features.append(rot)
    penultimate = layer_grams(rotated, x, device=CPU).grams[-1]
    assert linear_cka_gram(grams.grams[-1], penultimate) == pytest.approx(1.0, abs=1e-6)


# -- prediction matrix, threshold attack, still remembered ----------------------------------------
def test_prediction_matrix_counts_pairs_and_rows_sum_to_the_sample_counts() -> None:
    before = np.array([3, 3, 3, 1, 0, 3])
    after = np.array([5, 8, 5, 1, 0, 3])
    m = prediction_matrix(before, after, 10)
    assert m[3, 5] == 2 and m[3, 8] == 1 and m[3, 3] == 1 and m[1, 1] == 1 and m[0, 0] == 1
    assert m.sum(1).tolist() == np.bincount(before, minlength=10).tolist()
    assert m.sum() == len(before)
    with pytest.raises(ValueError, match="class indices"):
        prediction_matrix(before, after, 6)


def _scores(forget_conf, test_conf, forget_loss=None, test_loss=None) -> SampleScores:
    f, t = np.asarray(forget_conf, float), np.asarray(test_conf, float)
    return SampleScores(f, -np.log(f) if forget_loss is None else np.asarray(forget_loss, float),
                        np.zeros(len(f), dtype=int), t, -np.log(t) if test_loss is None else np.asarray(test_loss, float))


def test_threshold_attack_on_confidence_and_loss() -> None:
    s = _scores([0.9, 0.8, 0.3], [0.2, 0.85])
    at = attack_at(s, 0.5, "confidence")
    assert at == pytest.approx({"tpr": 2 / 3, "fpr": 1 / 2, "accuracy": (2 / 3 + 1 - 1 / 2) / 2})
    # loss threshold -log(0.5): members have a loss at most it, the same split as confidence >= 0.5
    assert attack_at(s, -np.log(0.5), "loss") == pytest.approx(at)
    assert nearest_to_threshold(s.forget_confidence, 0.5, 2).tolist() == [2, 1]
    with pytest.raises(ValueError, match="score must be"):
        attack_at(s, 0.5, "margin")


def test_membership_score_is_the_share_of_test_losses_above() -> None:
    assert membership_score(np.array([0.05, 0.5, 3.0]), np.array([0.1, 0.2, 1.0, 2.0])).tolist() == [1.0, 0.5, 0.0]


def test_still_remembered_ranks_by_confidence_beyond_the_retrained_model() -> None:
    scores = {"unlearned": _scores([0.9, 0.2, 0.7, 0.5], [0.5]), "retrain": _scores([0.1, 0.3, 0.6, 0.1], [0.5])}
    ranked = still_remembered(scores, np.array([10, 11, 12, 13]), k=10)
    assert [r["train_index"] for r in ranked] == [10, 13, 12]  # excess 0.8, 0.4, 0.1; 11 is below retrain
    assert ranked[0]["excess"] == pytest.approx(0.8)


# -- relearn -------------------------------------------------------------------------------------
def test_relearn_never_touches_the_model_and_is_seeded(digits, digits_model) -> None:
    model, _ = digits_model
    digest = state_digest(model)
    idx = torch.as_tensor(np.flatnonzero(digits.train.y.numpy() == 3))
    x, y = digits.train.x[idx], digits.train.y[idx]
    a = relearn_curve(model, x[:8], y[:8], x[8:], y[8:], steps=3, device=CPU)
    b = relearn_curve(model, x[:8], y[:8], x[8:], y[8:], steps=3, device=CPU)
    assert state_digest(model) == digest and not model.training
    assert len(a) == 4 and a == b
    assert a[0] == pytest.approx(float((model(x[8:]).argmax(1) == 3).float().mean()))


def test_relearn_curve_scores_the_evaluation_samples_only(digits, digits_model) -> None:
    model, _ = digits_model
    idx = torch.as_tensor(np.flatnonzero(digits.train.y.numpy() == 3))
    x, y = digits.train.x[idx], digits.train.y[idx]
    # evaluation labels no model predicts (every one shifted by 1): accuracy 0 at every step, while
    # the finetuning samples (true labels) are recognised; scoring those would give about 1
    curve = relearn_curve(model, x[:8], y[:8], x[8:40], (y[8:40] + 1) % 10, steps=3, device=CPU)
    assert curve == [0.0, 0.0, 0.0, 0.0]


def test_split_shots_keeps_the_finetuning_samples_out_of_the_evaluation() -> None:
    forget = np.arange(100, 160)
    train, held_out = split_shots(forget, 16, seed=3)
    assert len(train) == 16 and len(held_out) == 44
    assert not set(train) & set(held_out) and sorted([*train, *held_out]) == forget.tolist()
    assert (train == split_shots(forget, 16, seed=3)[0]).all()
    assert not (train == split_shots(forget, 16, seed=4)[0]).all()
    with pytest.raises(ValueError, match="needs more than 16 forget samples; the sample has 16"):
        split_shots(forget[:16], 16, seed=0)


def test_the_relearn_view_evaluates_on_the_inspection_sample_less_its_shots(digits, digits_model) -> None:
    from unlearn_core.inspect.inspection import relearn_view
    from unlearn_core.inspect.sample import inspection_sample

    model, _ = digits_model
    sample = inspection_sample(digits, resolve("class:3", digits, 0), per_side=60, seed=0)
    result = relearn_view({"original": model}, digits, sample, steps=2, shots=16, device=CPU)
    assert result.shots == 16 and result.n_eval == len(sample.forget_idx) - 16
    _, held_out = split_shots(sample.forget_idx, 16, sample.seed)
    ev = digits.train.subset(held_out)
    assert result.curves["original"][0] == pytest.approx(accuracy(predict_logits(model, ev.x), ev.y))


# -- a stored Retrain run, inspected through the CLI; an external checkpoint ----------------------
@pytest.fixture(scope="module")
def retrain_run(tmp_path_factory, digits, digits_model):
    model, meta = digits_model
    tmp = tmp_path_factory.mktemp("inspect")
    workspace = Workspace(tmp / "ws")
    record = unlearn_run(digits, model, meta, "class:3", "retrain", device=CPU, workspace=workspace)
    original = tmp / "original.safetensors"
    save_checkpoint(model, original, meta)
    return workspace, record, original


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The command line in-process (exit status, stdout, stderr): `main` is what `python -m` runs."""
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_inspect_on_a_retrain_run(retrain_run, capsys) -> None:
    workspace, record, original = retrain_run
    status, stdout, stderr = cli(capsys, "inspect", "--run", record.entry.id, "--workspace", str(workspace.root), "--checkpoint", str(original),
               "--sample", "120", "--relearn-steps", "3", "--json", "--device", "cpu")
    assert status == 0, stderr
    out = json.loads(stdout)
    assert out["run_id"] == record.entry.id
    assert [row["name"] for row in out["layers"]] == ["features.0", "features.1", "features.3", "features.5", "penultimate"]
    for row in out["layers"]:  # the run's unlearned model IS the retrained oracle
        assert row["cka_vs_retrain"] == pytest.approx(1.0, abs=1e-9)
        assert row["cka_vs_retrain_test"] == pytest.approx(1.0, abs=1e-9)
        assert row["cka_vs_original"] == pytest.approx(row["cka_original_vs_retrain"], abs=1e-12)
        assert row["cka_vs_retrain_debiased"] == pytest.approx(1.0, abs=1e-9)
        for key in ("cka_ceiling", "cka_floor", "cka_ceiling_debiased", "cka_floor_debiased_test"):
            assert 0.0 <= abs(row[key]) < 1.0, key  # the references: another seed, an untrained network
    assert out["layers"][-1]["cka_floor_debiased"] < out["layers"][-1]["cka_ceiling_debiased"]
    refs = out["cka_references"]
    assert refs["ceiling_seed"] == record.summary["seed"] + 1 and refs["floor_seed"] == record.summary["seed"] + 2
    membership = out["membership"]
    assert set(membership) == {"confidence", "loss", "scaled_confidence", "entropy"}
    assert membership["loss"]["original"]["accuracy"] == membership["scaled_confidence"]["original"]["accuracy"]
    assert 0.5 <= membership["entropy"]["unlearned"]["accuracy"] <= 1.0
    pm = out["prediction_matrix"]
    assert pm["classes"] == [str(c) for c in range(10)] and pm["n"] == record.summary["n_forget"] == 146
    counts = np.diag(pm["original"])
    for who in ("original", "unlearned", "retrain"):
        assert np.asarray(pm[who]).sum(1).tolist() == counts.tolist()  # each row: the original's count of that class
    assert np.asarray(pm["unlearned"])[:, 3].sum() == 0  # the retrained model never predicts a 3 on these
    assert pm["unlearned"] == pm["retrain"]
    probe = out["probe"]
    assert probe["original"] >= 0.9  # chance is 0.5: the original reads 3s out of its features
    assert probe["unlearned"] == probe["retrain"]
    relearn = out["relearn"]
    assert relearn["steps"] == [0, 1, 2, 3] and relearn["unlearned"] == relearn["retrain"]
    assert relearn["retrain"][0] == 0.0 and relearn["original"][0] == 1.0


def test_inspect_refuses_another_original(retrain_run, capsys) -> None:
    workspace, record, _ = retrain_run
    status, _, stderr = cli(capsys, "inspect", "--run", record.entry.id, "--workspace", str(workspace.root), "--device", "cpu")
    assert status == 2 and "started from another model" in stderr


def test_load_run_uses_the_models_it_is_given_and_reads_no_checkpoint(retrain_run, digits, digits_model,
                                                                      monkeypatch) -> None:
    """Compare hands inspection the models it has loaded already: nothing is read twice."""
    import unlearn_core.inspect.inspection as inspection

    workspace, record, _ = retrain_run
    model, _ = digits_model
    unlearned, retrained = inspection.run_models(workspace, workspace.get(record.entry.id))

    def no_read(*args, **kwargs):
        raise AssertionError("load_run read the run's checkpoints although it was given them")

    monkeypatch.setattr(inspection, "run_models", no_read)
    run = inspection.load_run(workspace, record.entry.id, model, digits, models=(unlearned, retrained))
    assert run.models["unlearned"] is unlearned and run.models["retrain"] is retrained
    assert run.models["original"] is model and run.forget.n_forget == record.summary["n_forget"]
    alone = inspection.load_run(workspace, record.entry.id, model, digits, models=(unlearned, None))
    assert set(alone.models) == {"original", "unlearned"}


def test_external_checkpoint_identical_to_the_original_gets_the_originals_metrics(retrain_run, digits, digits_model,
                                                                                   tmp_path) -> None:
    workspace, _, original_path = retrain_run
    model, meta = digits_model
    digest = state_digest(model)
    unlearned = load_external(original_path, meta)
    record = evaluate_external(digits, model, meta, unlearned, "class:3", device=CPU, workspace=workspace,
                               checkpoint=str(original_path))
    s = record.summary
    assert s["method"] == "external" and s["retrain_reused"]  # the same cached oracle as the studio's runs
    assert s["unlearned"] == s["original"] and s["details"]["unlearned"] == s["details"]["original"]
    assert s["params_changed_frac"] == 0.0 and s["time_s"] is None
    assert state_digest(model) == digest
    assert workspace.get(record.entry.id).info["method"] == "external"
    other = build_model("small_cnn", num_classes=10, in_channels=1, image_size=16, width=8)
    save_checkpoint(other, tmp_path / "other.safetensors", meta)
    with pytest.raises(ValueError, match="does not fit the architecture"):
        load_external(tmp_path / "other.safetensors", meta)
