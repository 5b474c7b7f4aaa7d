"""The one generic registry, the metrics table and the config schema that the registries build on."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from unlearn_core.data import list_datasets
from unlearn_core.inspect.overview import METRIC_HELP
from unlearn_core.methods import config_from_strings, config_schema, get_method
from unlearn_core.metrics import HEADLINE_KEYS, METRICS, ModelEval, metric_help
from unlearn_core.models import list_models
from unlearn_core.registry import Registry


def test_an_unknown_name_gets_one_line_listing_the_choices_in_order() -> None:
    reg: Registry[int] = Registry("colour", order=lambda v: -v, hint=", or a hex code")
    reg.register("red", 1)
    reg.register("blue", 2)
    with pytest.raises(ValueError, match=r"^unknown colour 'green'; colours: blue, red, or a hex code$"):
        reg.get("green")
    assert reg.list() == [2, 1] and reg.names() == ["blue", "red"]
    with pytest.raises(ValueError, match="colour 'red' registered twice"):
        reg.register("red", 3)


def test_built_ins_load_once_on_first_use() -> None:
    calls: list[int] = []
    reg: Registry[str] = Registry("thing", load=lambda: calls.append(1) or reg.register("a", "A"))
    assert calls == []
    assert reg.get("a") == "A" and reg.list() == ["A"] and "a" in reg
    assert calls == [1]


def test_the_three_registries_keep_their_order() -> None:
    assert [d.name for d in list_datasets()][:2] == ["digits", "shapes"]  # built in (no folder) first
    assert [m.name for m in list_models()] == ["resnet18", "small_cnn"]
    with pytest.raises(ValueError, match="unknown method 'nope'; methods: retrain, "):
        get_method("nope")


def test_the_metrics_table_drives_headline_serialisation_and_help() -> None:
    assert HEADLINE_KEYS == ("forget_acc", "retain_acc", "test_acc", "forget_test_acc", "mia_efficacy")
    keys = [m.key for m in METRICS.list()]
    assert keys == [*HEADLINE_KEYS, "mia_attack_acc", "test_acc_all", "loss_mia_auc", "backdoor_asr"]
    assert all(callable(m.compute) for m in METRICS.list())  # every row computes its own figure
    assert METRIC_HELP == metric_help() and "test_acc_all" not in METRIC_HELP
    assert METRIC_HELP["mia_efficacy"][0] == "MIA-efficacy"


def test_to_dict_serialises_every_metric_of_the_table() -> None:
    values = {k: 0.5 for k in (m.key for m in METRICS.list())} | {"forget_test_acc": None, "backdoor_asr": None}
    ev = ModelEval(values, per_class_test_acc=[1.0, float("nan")], forget_logits=None, test_logits=None, mia_scores={})
    out = ev.to_dict()
    assert set(out) == {*values, "per_class_test_acc"}
    assert out["retain_acc"] == 0.5 and out["forget_test_acc"] is None
    assert out["per_class_test_acc"] == [1.0, None]
    assert ev.retain_acc == 0.5 and ev.forget_test_acc is None  # metrics read as attributes
    with pytest.raises(AttributeError, match="no attribute or metric 'nope'"):
        ev.nope  # noqa: B018


def test_a_metric_is_added_in_one_place(shipped_digits, digits) -> None:
    """One `register_metric` call: evaluate_model computes it and every run summary serialises it."""
    from unlearn_core.forget import UnlearnData, resolve
    from unlearn_core.metrics import Metric, evaluate_model, register_metric

    model, _ = shipped_digits
    data = UnlearnData(digits, resolve("class:3", digits))
    register_metric(Metric("forget_share", "Forget share", "share of train samples in D_f", "as retrain",
                           lambda p: len(p.data.forget.forget_idx) / len(p.train_logits), listed=False))
    try:
        ev = evaluate_model(model, data, device=torch.device("cpu"))
        assert ev.to_dict()["forget_share"] == ev.forget_share == len(data.forget.forget_idx) / len(digits.train.y)
        assert ev.forget_acc > 0.95  # the shipped model knows its 3s; the table's own rows are unchanged
    finally:
        METRICS.unregister("forget_share")
    assert "forget_share" not in evaluate_model(model, data, device=torch.device("cpu")).to_dict()


def test_config_schema_describes_every_field_with_its_type_and_metadata() -> None:
    cls = get_method("del").config_cls
    schema = config_schema(cls)
    assert [p.name for p in schema] == [f.name for f in dataclasses.fields(cls)]
    budget = next(p for p in schema if p.name == "budget")
    assert budget.type is float and budget.default == cls().budget and budget.help
    localizer = next(p for p in schema if p.name == "localizer")
    assert localizer.type is str and "random" in localizer.choices
    assert budget.to_dict()["type"] == "float"
    assert config_from_strings(cls, {"budget": "0.25"}).budget == 0.25
