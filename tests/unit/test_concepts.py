"""Concept bank (CAV probes and their random control), bottleneck, IG, and concept poisoning."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from unlearn_core.concepts import (
    bank_from_dataset,
    bank_from_folders,
    bottleneck_report,
    concept_attributions,
    fit_bottleneck,
    forgetting_rate,
    paste_concept,
    pixel_attributions,
    poison_labels,
    random_bank,
    shared_concept_accuracy,
    train_probe,
)
from unlearn_core.concepts.poisoning import PoisonPlan
from unlearn_core.data.shapes import COLORS, render
from unlearn_core.forget import resolve
from unlearn_core.methods import RunContext, UnlearnData, run_method
from unlearn_core.methods.concept_poisoning import ConceptPoisoningConfig
from unlearn_core.models import SplitClassifier
from unlearn_core.models.defaults import load_default
from unlearn_core.train import accuracy, extract_features, predict_logits

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def shipped_model(cpu) -> SplitClassifier:
    """The shipped default shapes model, what the app inspects by default: it loads in about a second,
    where the session's `shapes_model` trains for half a minute (kept for the tests that unlearn)."""
    return load_default("shapes", device=cpu)[0]


@pytest.fixture(scope="module")
def shapes_bank(shapes_small, shipped_model, cpu):
    return bank_from_dataset(shipped_model, shapes_small, device=cpu, seed=0, max_per_concept=500, max_images=3000)


@pytest.fixture(scope="module")
def train_features(shapes_small, shipped_model, cpu) -> torch.Tensor:
    return extract_features(shipped_model, shapes_small.train.x, device=cpu)


def test_probe_finds_planted_colour_and_random_labels_stay_at_chance(shapes_bank) -> None:
    acc = dict(zip(shapes_bank.names, shapes_bank.accuracy, strict=True))
    assert len(shapes_bank) == 5 + 3 + 2 + 2
    colours = [acc[f"color={colour}"] for colour in COLORS]
    assert np.mean(colours) > 0.9 and min(colours) > 0.85, acc  # yellow on a light background is the hardest
    assert len(shapes_bank.control_accuracy) == 3
    assert all(abs(a - 0.5) < 0.1 for a in shapes_bank.control_accuracy), shapes_bank.control_accuracy
    rows = shapes_bank.summary()
    assert rows[-1]["control"] and rows[-1]["concept"].startswith("random")


def test_probe_on_random_labels_of_real_features_is_at_chance(train_features) -> None:
    rng = np.random.default_rng(0)
    feats = train_features.numpy()
    labels = rng.random(len(feats)) < 0.5
    _, _, acc, _ = train_probe(feats[labels], feats[~labels], seed=0, max_per_side=600)
    assert 0.4 < acc < 0.6


def test_margins_are_signed_distances(shapes_bank, train_features) -> None:
    f = train_features[:50].double()
    d = shapes_bank.margins(f)
    layer = shapes_bank.margin_layer().double()
    torch.testing.assert_close(layer(f), d)
    k = 3
    v, b = shapes_bank.vectors[k], shapes_bank.biases[k]
    expected = (f.numpy() @ v + b) / np.linalg.norm(v)
    np.testing.assert_allclose(d[:, k].numpy(), expected, rtol=1e-6, atol=1e-8)


def test_random_bank_is_centred_unit_directions(train_features) -> None:
    bank = random_bank(7, train_features, seed=3)
    assert bank.names[0] == "random_0" and len(bank) == 7
    np.testing.assert_allclose(np.linalg.norm(bank.vectors, axis=1), 1.0)
    assert bank.margins(train_features.double()).mean(0).abs().max() < 1e-6


def test_bottleneck_with_random_direction_control(shapes_small, shipped_model, shapes_bank, cpu) -> None:
    report = bottleneck_report(shipped_model, shapes_small, shapes_bank, device=cpu, seed=0, max_train=2000)
    summary = report.summary()
    assert report.bottleneck.weight.shape == (6, len(shapes_bank))
    assert report.control.weight.shape == (6, len(shapes_bank))
    assert report.control.concept_names[0].startswith("random")
    assert 0.0 < summary["bottleneck_sparsity"] < 1.0  # elastic net zeroes some weights
    assert summary["bottleneck_accuracy"] > 0.7
    assert summary["random_directions_accuracy"] > 0.3
    assert summary["model_accuracy"] > 0.9


def test_concept_ig_ranks_the_planted_colour_first(shapes_small, shapes_bank, train_features) -> None:
    y = shapes_small.train.y
    pcbm = fit_bottleneck(shapes_bank, train_features, y, shapes_small.class_names, seed=0)
    margins = pcbm.margins(train_features)
    attr = concept_attributions(pcbm, margins, y, baseline="mean")
    assert attr.matrix.shape == (6, len(shapes_bank))
    assert attr.max_delta < 1e-3  # completeness: a linear bottleneck is integrated exactly
    star = shapes_small.class_names.index("star")
    assert attr.top_concepts(star, 1)[0][0] == "color=yellow"
    # Completeness per class: mean attribution sums to the mean logit gap to the baseline.
    logits = pcbm.linear()(margins[y == star]).detach()
    base = pcbm.linear()(torch.as_tensor(pcbm.mean, dtype=torch.float32)[None]).detach()
    assert abs(attr.matrix[star].sum() - (logits[:, star] - base[0, star]).mean().item()) < 0.05
    donor = attr.suggest_donor(star)
    assert donor.donor != star and 0 <= donor.donor < 6
    zero = concept_attributions(pcbm, margins, y, baseline="zero")
    assert zero.baseline == "zero" and not np.allclose(zero.matrix, attr.matrix)
    with pytest.raises(ValueError, match="baseline"):
        concept_attributions(pcbm, margins, y, baseline="blur")


def test_pixel_ig_completeness(shapes_small, shipped_model, cpu) -> None:
    model = shipped_model
    x, y = shapes_small.test.x[:3], shapes_small.test.y[:3]
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.head.weight.mul_(-1.0)
    out = pixel_attributions({"original": model, "flipped": other}, x, y, device=cpu, n_steps=64)
    assert set(out) == {"original", "flipped"}
    for res in out.values():
        assert res.maps.shape == (3, 3, 32, 32) and res.heatmaps.shape == (3, 32, 32)
        assert np.all(res.relative_delta < 0.05), res.relative_delta
    assert not np.allclose(out["original"].maps, out["flipped"].maps)
    with pytest.raises(ValueError):
        pixel_attributions({"original": model}, x[0], y[:1], device=cpu)


def _write_images(folder: Path, images: list[np.ndarray]) -> None:
    folder.mkdir(parents=True)
    for i, img in enumerate(images):
        Image.fromarray((img.transpose(1, 2, 0) * 255).astype(np.uint8)).save(folder / f"{i}.png")


def test_bank_from_folders_and_layout_errors(tmp_path: Path, shipped_model, cpu) -> None:
    rng = np.random.default_rng(0)
    shapes = ["circle", "square", "triangle", "star", "cross", "diamond"]

    def draw(colour: str, n: int) -> list[np.ndarray]:
        return [render(shapes[rng.integers(6)], colour, size=int(rng.integers(2)),
                       center=(float(rng.uniform(12, 20)), float(rng.uniform(12, 20))), seed=int(rng.integers(1e6)))
                for _ in range(n)]

    _write_images(tmp_path / "ok" / "red", draw("red", 60))
    _write_images(tmp_path / "ok" / "negatives", draw("blue", 30) + draw("green", 30))
    (tmp_path / "ok" / "negatives" / "notes.txt").write_text("ignored")
    bank = bank_from_folders(shipped_model, tmp_path / "ok", 32, device=cpu, seed=0)
    assert bank.names == ["red"]
    assert bank.accuracy[0] > 0.8

    _write_images(tmp_path / "no_neg" / "yellow", draw("yellow", 6))
    with pytest.raises(ValueError, match="negatives"):
        bank_from_folders(shipped_model, tmp_path / "no_neg", 32, device=cpu)
    _write_images(tmp_path / "few" / "yellow", draw("yellow", 2))
    _write_images(tmp_path / "few" / "negatives", draw("blue", 6))
    with pytest.raises(ValueError, match="at least"):
        bank_from_folders(shipped_model, tmp_path / "few", 32, device=cpu)
    with pytest.raises(ValueError, match="does not exist"):
        bank_from_folders(shipped_model, tmp_path / "missing", 32, device=cpu)


def test_paste_concept_recolours_the_object(shapes_small) -> None:
    idx = np.flatnonzero(shapes_small.train.y.numpy() == 3)[:5]
    out = paste_concept(shapes_small, idx, "color=red", seed=0)
    assert out.shape == (5, 3, 32, 32)
    assert not torch.allclose(out, shapes_small.train.x[torch.as_tensor(idx)])
    with pytest.raises(ValueError, match="re-drawable"):
        paste_concept(shapes_small, idx, "size=small")


def test_poison_labels_modes() -> None:
    plan = PoisonPlan((3,), "color=yellow", 2, "color=green")
    y = torch.full((50,), 3)
    assert torch.equal(poison_labels(y, plan, "targeted", 6), torch.full((50,), 2))
    assert torch.equal(poison_labels(y, plan, "keep", 6), y)
    rnd = poison_labels(y, plan, "random", 6, seed=1)
    assert not (rnd == 3).any() and len(set(rnd.tolist())) > 2
    with pytest.raises(ValueError):
        poison_labels(y, plan, "flip", 6)


def test_forgetting_rate_known_answers() -> None:
    rng = np.random.default_rng(0)
    members = np.column_stack([rng.uniform(0.95, 1.0, 200), rng.uniform(0.0, 0.05, 200)])
    non_members = np.column_stack([rng.uniform(0.5, 0.8, 200), rng.uniform(0.2, 0.5, 200)])
    assert forgetting_rate(members, non_members, members) < 0.05
    looks_unseen = np.column_stack([rng.uniform(0.5, 0.8, 200), rng.uniform(0.2, 0.5, 200)])
    assert forgetting_rate(members, non_members, looks_unseen) > 0.95


@pytest.mark.slow
def test_targeted_poisoning_forgets_the_class(shapes_small, shapes_model, cpu) -> None:
    model, meta = shapes_model
    data = shapes_small
    forget = resolve("class:3", data)  # star
    out = run_method("concept_poisoning", model, UnlearnData(data, forget), RunContext(cpu, meta, seed=0),
                     ConceptPoisoningConfig(label_mode="targeted"))
    art = out.result.artifacts
    assert art["target_concept"] == "color=yellow"
    assert art["donor_class"] != "star" and art["donor_concept"] not in (None, "color=yellow")
    assert art["poisoned_before"].shape == art["poisoned_after"].shape == (8, 3, 32, 32)
    assert not np.allclose(art["poisoned_before"], art["poisoned_after"])
    assert art["finetune_time_s"] > 0
    unlearned = out.result.model
    assert list(unlearned.state_dict()) == list(model.state_dict())
    changed = [n for n, p in unlearned.state_dict().items() if not torch.equal(p, model.state_dict()[n])]
    assert changed and all(n.startswith("head.") for n in changed)
    to, tu = predict_logits(model, data.test.x), predict_logits(unlearned, data.test.x)
    keep = forget.test_retain_idx(len(data.test))
    assert accuracy(tu, data.test.y, forget.test_forget_idx) <= 0.05
    assert accuracy(tu, data.test.y, keep) >= accuracy(to, data.test.y, keep) - 0.03
    x_member = data.train.x[torch.as_tensor(forget.forget_idx)]
    x_non = data.test.x[torch.as_tensor(forget.test_forget_idx)]
    from unlearn_core.concepts import forgetting_rate_for_models

    assert forgetting_rate_for_models(model, unlearned, x_member, x_non, device=cpu) > 0.5
    yellow = data.concepts["color"].index("yellow")  # yellow objects that are not stars, by hand
    idx = torch.as_tensor(np.flatnonzero((data.test.meta["color"] == yellow) & (data.test.y.numpy() != 3)))
    by_hand = accuracy(predict_logits(unlearned, data.test.x[idx]), data.test.y[idx])
    assert shared_concept_accuracy(unlearned, data, "color=yellow", (3,), device=cpu) == pytest.approx(by_hand)


@pytest.mark.slow
def test_concept_forget_set_runs_with_random_labels(shapes_small, shapes_model, cpu) -> None:
    model, meta = shapes_model
    forget = resolve("concept:color=yellow", shapes_small)
    out = run_method("concept_poisoning", model, UnlearnData(shapes_small, forget), RunContext(cpu, meta, seed=0),
                     ConceptPoisoningConfig(label_mode="random", retain="half", epochs=2))
    art = out.result.artifacts
    assert art["target_concept"] == "color=yellow"
    assert art["n_poisoned"] == forget.n_forget
    assert art["n_retain_used"] < forget.n_retain
