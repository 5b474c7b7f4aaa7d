"""Registry of unlearning methods and the runner that executes one safely.

Adding a method is one new module in this package that calls `register_method`; the CLI, the
Unlearn page's form and the contract tests pick it up from here.
"""

from __future__ import annotations

import copy
import importlib
import pkgutil
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from unlearn_core.forget import ForgetSet, UnlearnData
from unlearn_core.methods.base import MethodConfig, RunContext, UnlearnResult
from unlearn_core.models import ModelMeta, SplitClassifier
from unlearn_core.registry import Registry
from unlearn_core.train import seed_everything

MethodFn = Callable[[SplitClassifier, UnlearnData, MethodConfig, RunContext], UnlearnResult]
CATEGORIES = ("class", "samples", "concept")


@dataclass(frozen=True)
class MethodInfo:
    """A registered method and what the UI says about it.

    `forget_categories` are `ForgetSet.category` values (class, samples, concept), not the spec
    kinds of `forget.KINDS`; the CLI's JSON calls them ``forget_kinds`` (a contract).
    `defaults_revision` counts changes to what the config's "auto" values resolve to: a stored run
    (or seed study) of an older revision is never reused for a request with the same config.
    """

    name: str
    title: str
    paper: str
    config_cls: type[MethodConfig]
    fn: MethodFn
    forget_categories: tuple[str, ...]
    touches: str
    needs_forget_images: bool = True
    localized: bool = False
    summary: str = ""
    defaults_revision: int = 1

    def supports(self, category: str) -> bool:
        return category in self.forget_categories


def register_method(
    name: str | None = None,
    *,
    title: str,
    paper: str,
    touches: str,
    config: type[MethodConfig] | None = None,
    forget_kinds: tuple[str, ...] = CATEGORIES,
    needs_forget_images: bool = True,
    localized: bool = False,
    defaults_revision: int = 1,
) -> Callable[[MethodFn], MethodFn]:
    """Decorator: register `fn` as method `name` (default: the function's name).

    The method's config class is the annotation of the function's ``config`` parameter (`config`
    only for a function without one); its docstring's first paragraph is its summary.
    `forget_kinds` are the forget categories it supports (`MethodInfo.forget_categories`).
    Bump `defaults_revision` when an auto default resolves differently (`MethodInfo`).
    """
    bad = set(forget_kinds) - set(CATEGORIES)
    if bad:
        raise ValueError(f"unknown forget categories {bad}; use {CATEGORIES}")

    def wrap(fn: MethodFn) -> MethodFn:
        config_cls = config or typing.get_type_hints(fn).get("config")
        if not (isinstance(config_cls, type) and issubclass(config_cls, MethodConfig)):
            raise TypeError(f"{fn.__name__}: annotate its config parameter with a MethodConfig subclass")
        summary = (fn.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        key = name or fn.__name__
        METHODS.register(key, MethodInfo(
            key, title, paper, config_cls, fn, tuple(forget_kinds), touches, needs_forget_images, localized, summary,
            defaults_revision,
        ))
        return fn

    return wrap


def _load_builtin_methods() -> None:
    """Import every module of this package once: each method module registers itself on import (the
    support modules, base, registry and common, register nothing), so a new one needs no edit here."""
    package = __name__.rpartition(".")[0]
    for module in pkgutil.iter_modules(importlib.import_module(package).__path__):
        importlib.import_module(f"{package}.{module.name}")


# Retrain first, then alphabetically; the built-in methods are imported on the first lookup.
METHODS: Registry[MethodInfo] = Registry(
    "method", load=_load_builtin_methods, order=lambda m: (m.name != "retrain", m.name)
)


def list_methods() -> list[MethodInfo]:
    """Every registered method, Retrain first, then alphabetically."""
    return METHODS.list()


def get_method(name: str) -> MethodInfo:
    """The registry entry for `name`, or a ValueError listing the known ones."""
    return METHODS.get(name)


def resolved_defaults(name: str, forget: ForgetSet, meta: ModelMeta,
                      config: MethodConfig | None = None) -> dict[str, Any]:
    """What method `name`'s "auto" settings (of `config`, default: its defaults) resolve to on
    `forget` for the model `meta`: field -> value, or a sentence where only the run can tell
    (`MethodConfig.resolved_defaults`, defined next to the code that resolves them)."""
    info = get_method(name)
    return (config or info.config_cls()).resolved_defaults(forget, meta)


@dataclass
class RunOutcome:
    """A finished run: the method's result, its config and its wall time."""

    method: str
    config: MethodConfig
    result: UnlearnResult
    time_s: float


def run_method(
    name: str,
    model: SplitClassifier,
    data: UnlearnData,
    context: RunContext,
    config: MethodConfig | None = None,
) -> RunOutcome:
    """Run method `name` on a deep copy of `model` (the original is never touched), timed.

    Checks the forget set's category is supported, seeds torch with `context.seed`, and moves
    the unlearned model back to the CPU.
    """
    info = get_method(name)
    if not info.supports(data.forget.category):
        raise ValueError(
            f"{info.title} supports {', '.join(info.forget_categories)} forgetting, not {data.forget.category} "
            f"({data.forget.spec})"
        )
    config = config if config is not None else info.config_cls()
    if not isinstance(config, info.config_cls):
        raise ValueError(f"{name} expects a {info.config_cls.__name__}, got {type(config).__name__}")
    work = copy.deepcopy(model).to(context.device)
    seed_everything(context.seed)
    start = time.perf_counter()
    result = info.fn(work, data, config, context)
    elapsed = time.perf_counter() - start
    result.model = result.model.cpu().eval()
    return RunOutcome(name, config, result, elapsed)
