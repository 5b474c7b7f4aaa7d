"""The library's layers import downwards only, checked statically (import-linter over grimp's
import graph, function-level imports included): the contracts in pyproject.toml
[tool.importlinter] hold, every module of the library sits in a layer, the library never imports
the app, and one method module imports no other method."""

from __future__ import annotations

import importlib
import pkgutil
import tomllib
from pathlib import Path

import grimp
from importlinter.cli import lint_imports

import unlearn_core

REPO = Path(__file__).resolve().parents[2]
SHARED_METHOD_MODULES = {"unlearn_core.methods", "unlearn_core.methods.base", "unlearn_core.methods.registry",
                         "unlearn_core.methods.common"}


def _contracts() -> list[dict]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def test_the_layer_and_no_app_contracts_hold(monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    assert lint_imports(config_filename=str(REPO / "pyproject.toml"), no_cache=True) == 0  # 0: every contract kept


def test_every_module_of_the_library_sits_in_a_layer() -> None:
    layers = next(c for c in _contracts() if c["type"] == "layers")["layers"]
    placed = {name.strip() for layer in layers for name in layer.split("|")}
    for info in pkgutil.iter_modules(unlearn_core.__path__, "unlearn_core."):
        if info.name == "unlearn_core.__main__":
            continue
        if info.name == "unlearn_core.runs":  # placed module by module: the worker sits above the studies
            children = {m.name for m in pkgutil.iter_modules(importlib.import_module(info.name).__path__, "unlearn_core.runs.")}
            assert children <= placed, f"not in a layer: {sorted(children - placed)}"
            continue
        assert info.name in placed, f"{info.name} is in no layer of pyproject.toml's layers contract"


def test_one_method_module_imports_no_other_method() -> None:
    graph = grimp.build_graph("unlearn_core")
    methods = graph.find_children("unlearn_core.methods") - SHARED_METHOD_MODULES
    assert len(methods) >= 13
    for module in methods:
        others = {m for m in graph.find_modules_directly_imported_by(module)
                  if m.startswith("unlearn_core.methods") and m not in SHARED_METHOD_MODULES}
        assert not others, f"{module} imports {sorted(others)}"
    for module in SHARED_METHOD_MODULES:  # the shared base never reaches into one method
        assert not (graph.find_modules_directly_imported_by(module) & methods), module


def test_the_registry_finds_every_built_in_method_on_first_use() -> None:
    from unlearn_core.methods import list_methods

    names = {info.name for info in list_methods()}
    assert {"del", "unsir", "retrain", "finetune"} <= names


def test_every_module_of_the_library_imports() -> None:
    for info in pkgutil.walk_packages(unlearn_core.__path__, "unlearn_core."):
        if info.name != "unlearn_core.__main__":  # running it would start the CLI
            importlib.import_module(info.name)
