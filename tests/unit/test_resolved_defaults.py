"""The form shows what a method's "auto" settings resolve to (issue 25): the library says it."""

from __future__ import annotations

from unlearn_core.data import load_dataset
from unlearn_core.forget import resolve
from unlearn_core.methods import RunContext, get_method, resolved_defaults
from unlearn_core.methods.deletion import finetune_config, resolved_budget
from unlearn_core.models.defaults import load_default


def test_del_auto_settings_resolve_like_the_run() -> None:
    """DEL's budget, epochs, lr and batch size resolve per forget set exactly as the run resolves them."""
    import torch

    data = load_dataset("digits")
    _, meta = load_default("digits", device=torch.device("cpu"))
    config = get_method("del").config_cls()
    for spec, budget in (("class:3", 0.30), ("random:0.1", 0.10)):
        forget = resolve(spec, data)
        got = resolved_defaults("del", forget, meta)
        train = finetune_config(config, RunContext(torch.device("cpu"), meta), forget)
        assert got["budget"] == budget == resolved_budget(config, forget)
        assert (got["epochs"], got["lr"], got["batch_size"]) == (train.epochs, train.lr, train.batch_size)
        assert got["epochs"] > 0 and got["lr"] > 0 and got["batch_size"] > 0
    # a value set by hand is not "auto": it is not listed
    set_by_hand = get_method("del").config_cls(budget=0.2)
    assert "budget" not in resolved_defaults("del", resolve("class:3", data), meta, set_by_hand)


def test_concept_poisoning_donor_is_described() -> None:
    """The donor class left at -1 is described as chosen at run time (no '-1' on the form)."""
    import torch

    data = load_dataset("digits")
    _, meta = load_default("digits", device=torch.device("cpu"))
    got = resolved_defaults("concept_poisoning", resolve("class:3", data), meta)
    assert "run time" in got["donor_class"]


def test_methods_without_auto_fields_resolve_nothing() -> None:
    import torch

    data = load_dataset("digits")
    _, meta = load_default("digits", device=torch.device("cpu"))
    assert resolved_defaults("finetune", resolve("class:3", data), meta) == {}
