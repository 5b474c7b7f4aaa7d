"""Defaults resolved at run time (DEL from the model's recipe, RFA's λ from the forget kind), SSD's
budget selection, and the shared seeded samplers: known answers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from unlearn_core.forget import ForgetSet
from unlearn_core.methods import RunContext
from unlearn_core.methods.deletion import DELConfig, finetune_config, resolved_budget
from unlearn_core.methods.rfa import auto_lam
from unlearn_core.methods.ssd import SSDConfig, dampen, select_alpha, select_budget
from unlearn_core.models import ModelMeta
from unlearn_core.sampling import sample_at_most, sample_per_class
from unlearn_core.train import TrainConfig

CPU = torch.device("cpu")


def _ctx(recipe: TrainConfig) -> RunContext:
    meta = ModelMeta(arch="small_cnn", num_classes=3, input_shape=(1, 8, 8), recipe=recipe.to_dict())
    return RunContext(CPU, meta, seed=4)


def _forget(kind: str) -> ForgetSet:
    return ForgetSet(f"{kind}:x", kind, np.array([0]), np.array([1]))


def test_del_finetune_follows_the_models_recipe_unless_set():
    adam = _ctx(TrainConfig(epochs=10, lr=5e-3, batch_size=32, optimizer="adam"))
    auto = finetune_config(DELConfig(), adam, _forget("random"))
    assert (auto.epochs, auto.lr, auto.batch_size, auto.optimizer) == (15, 5e-3, 32, "adam")
    assert (auto.weight_decay, auto.schedule, auto.final_lr_fraction, auto.seed) == (0.0, "cosine", 0.01, 4)
    fixed = finetune_config(DELConfig(epochs=3, lr=0.05, batch_size=16), adam, _forget("class"))
    assert (fixed.epochs, fixed.lr, fixed.batch_size, fixed.optimizer) == (3, 0.05, 16, "sgd")  # a set rate: SGD


def test_del_finetunes_as_long_as_the_recipe_for_classes_and_concepts_and_half_again_for_samples():
    digits = _ctx(TrainConfig(epochs=10, lr=0.05, batch_size=64))  # recipes.py's digits recipe
    epochs = {k: finetune_config(DELConfig(), digits, _forget(k)).epochs for k in ("class", "concept", "samples")}
    assert epochs == {"class": 10, "concept": 10, "samples": 15}  # official 1.0x; the studio's 1.5x on samples
    auto = finetune_config(DELConfig(), digits, _forget("samples"))
    assert (auto.lr, auto.batch_size, auto.optimizer) == (0.05, 64, "sgd")


def test_del_budget_is_the_papers_for_classes_and_concepts_and_a_tenth_for_samples():
    forget = _forget

    assert [resolved_budget(DELConfig(), forget(k)) for k in ("class", "concept", "random", "indices", "flag")] == [
        0.30, 0.30, 0.10, 0.10, 0.10]
    assert resolved_budget(DELConfig(budget=0.25), forget("random")) == 0.25  # a set budget wins


def test_rfa_lambda_is_half_for_classes_and_a_tenth_otherwise():
    assert [auto_lam(k) for k in ("class", "samples", "concept")] == [0.5, 0.1, 0.1]


def _fishers() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    # ratios I_f / I_D: a = [4, 0.5, 2, 8], b = [3, 1]
    full = {"a": torch.tensor([1.0, 2.0, 1.0, 1.0]), "b": torch.tensor([1.0, 1.0])}
    forget = {"a": torch.tensor([4.0, 1.0, 2.0, 8.0]), "b": torch.tensor([3.0, 1.0])}
    return full, forget


def test_ssd_budget_takes_the_highest_ratios_and_never_an_entry_dampening_leaves_alone():
    full, forget = _fishers()
    chosen = select_budget(full, forget, budget=0.5, dampening=1.0)  # 3 of 6 entries
    assert chosen["a"].tolist() == [True, False, False, True] and chosen["b"].tolist() == [True, False]
    everything = select_budget(full, forget, budget=1.0, dampening=1.0)  # ratios 0.5 and 1 never qualify
    assert everything["a"].tolist() == [True, False, True, True] and everything["b"].tolist() == [True, False]
    assert select_alpha(full, forget, alpha=3.0)["a"].tolist() == [True, False, False, True]


def test_ssd_dampens_selected_entries_by_lambda_over_the_ratio():
    full, forget = _fishers()
    model = torch.nn.Module()
    model.a, model.b = torch.nn.Parameter(torch.ones(4)), torch.nn.Parameter(torch.ones(2))
    mask = dampen(model, full, forget, select_budget(full, forget, 0.5, 1.0), dampening=1.0)
    assert model.a.detach().tolist() == [0.25, 1.0, 1.0, 0.125]
    assert model.b.detach().tolist() == pytest.approx([1 / 3, 1.0])
    assert mask["a"].tolist() == [1.0, 0.0, 0.0, 1.0]


def test_ssd_defaults_are_the_budget_with_the_papers_alpha_beside_it():
    defaults = {f.name: f.default for f in dataclasses.fields(SSDConfig)}
    assert (defaults["selection"], defaults["budget"], defaults["alpha"], defaults["dampening"]) == ("budget", 0.01,
                                                                                                      10.0, 1.0)


def test_samplers_draw_at_most_n_and_per_class_counts():
    idx = np.arange(100, 130)
    assert sample_at_most(idx, 40, seed=0) is not None and len(sample_at_most(idx, 40, seed=0)) == 30
    picked = sample_at_most(idx, 10, seed=1)
    assert len(picked) == 10 and len(set(picked)) == 10 and list(picked) == sorted(picked)
    assert set(picked) <= set(idx) and np.array_equal(picked, sample_at_most(idx, 10, seed=1))
    labels = np.array([0] * 5 + [1] * 20 + [2] * 5)
    half = sample_per_class(idx, labels, lambda n: (n + 1) // 2, seed=0)
    assert [int((labels[half - 100] == c).sum()) for c in (0, 1, 2)] == [3, 10, 3]
    capped = sample_per_class(idx, labels, lambda n: 4, seed=0)
    assert [int((labels[capped - 100] == c).sum()) for c in (0, 1, 2)] == [4, 4, 4]
