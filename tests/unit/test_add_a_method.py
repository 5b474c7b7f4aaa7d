"""Adding a method takes one file and no edit elsewhere.

The test writes a single module that registers a toy method, imports it, and checks that the
registry, ``methods --json``, `config_schema`, the Unlearn form builder and `run_method` all pick
it up. The toy method is removed from the registry afterwards.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator

import pytest
import torch
from streamlit.testing.v1 import AppTest

from unlearn_core.cli import main
from unlearn_core.data import SplitDataset
from unlearn_core.forget import UnlearnData, resolve
from unlearn_core.methods import RunContext, config_from_strings, config_schema, get_method, list_methods, run_method
from unlearn_core.methods.registry import METHODS
from unlearn_core.models import ModelMeta

TOY_MODULE = '''
"""Toy shrink: scale the classification head's weights (a test's method, in one file)."""

import torch

from unlearn_core.methods.base import MethodConfig, RunContext, UnlearnData, UnlearnResult, param
from unlearn_core.methods.registry import register_method


class ToyConfig(MethodConfig):
    factor: float = param(0.5, "Share of the head's weights kept", min=0.0, max=1.0, paper="none")
    label: str = param("a", "A choice", choices=("a", "b"))


@register_method("toy_shrink", title="Toy shrink", paper="none (a test)", config=ToyConfig,
                 touches="the head's weight", forget_kinds=("class", "samples"))
def toy_shrink(model, data: UnlearnData, config: ToyConfig, ctx: RunContext) -> UnlearnResult:
    """Multiply the head's weight by `factor`."""
    with torch.no_grad():
        model.head.weight.mul_(config.factor)
    ctx.report(1, 1, "shrunk")
    return UnlearnResult(model, artifacts={"factor": config.factor})
'''


@pytest.fixture
def toy(tmp_path, monkeypatch) -> Iterator[str]:
    """The toy method's module, written to a fresh folder on sys.path and imported."""
    (tmp_path / "toy_method.py").write_text(TOY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("toy_method")
    yield "toy_shrink"
    METHODS.unregister("toy_shrink")
    sys.modules.pop("toy_method", None)


def test_the_registry_and_the_schema_list_the_new_method(toy: str) -> None:
    assert toy in [m.name for m in list_methods()]
    info = get_method(toy)
    assert info.title == "Toy shrink" and info.summary == "Multiply the head's weight by `factor`."
    schema = {p.name: p for p in config_schema(info.config_cls)}
    assert schema["factor"].type is float and schema["factor"].default == 0.5 and schema["factor"].max == 1.0
    assert schema["label"].choices == ("a", "b")
    with pytest.raises(ValueError, match="factor must be <= 1.0"):
        config_from_strings(info.config_cls, {"factor": "2"})


def test_methods_json_lists_the_new_method(toy: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["methods", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["methods"]}
    row = rows[toy]
    assert row["params"] == {"factor": 0.5, "label": "a"}
    assert row["forget_kinds"] == ["class", "samples"]
    assert [p["name"] for p in row["schema"]] == ["factor", "label"]
    assert row["schema"][0] | {"help": ""} == {"name": "factor", "type": "float", "default": 0.5, "help": "",
                                               "min": 0.0, "max": 1.0, "choices": None, "paper": "none"}


def _form_script() -> None:
    from studio_ui.forms import config_form
    from unlearn_core.methods import get_method

    config_form(get_method("toy_shrink").config_cls, "toy")


def test_the_form_builder_draws_the_new_methods_fields(toy: str) -> None:
    at = AppTest.from_function(_form_script, default_timeout=60).run()
    assert not at.exception, at.exception
    assert [n.label for n in at.number_input] == ["factor"] and at.number_input[0].value == 0.5
    assert [s.label for s in at.selectbox] == ["label"] and at.selectbox[0].options == ["a", "b"]


def test_run_method_runs_the_new_method(toy: str, digits: SplitDataset) -> None:
    meta = ModelMeta("small_cnn", digits.num_classes, digits.input_shape, arch_options={"width": 4})
    torch.manual_seed(0)
    model = meta.build()
    info = get_method(toy)
    config = config_from_strings(info.config_cls, {"factor": "0.25"})
    outcome = run_method(toy, model, UnlearnData(digits, resolve("class:3", digits)),
                         RunContext(torch.device("cpu"), meta), config)
    assert torch.equal(outcome.result.model.head.weight, model.head.weight * 0.25)
    before, after = model.state_dict(), outcome.result.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k != "head.weight")
    assert outcome.result.artifacts == {"factor": 0.25}
