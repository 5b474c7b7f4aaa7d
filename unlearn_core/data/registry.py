"""One registry of datasets: `load_dataset(name, **options)` returns a SplitDataset."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass

from ..options import coerce_options, declared_types
from .base import SplitDataset

Builder = Callable[..., SplitDataset]


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset: its builder, a one-line description and whether it needs a folder."""

    name: str
    builder: Builder
    description: str
    needs_root: bool

    def options(self) -> dict[str, object]:
        """The builder's keyword options and their defaults."""
        sig = inspect.signature(self.builder)
        return {
            p.name: (None if p.default is inspect.Parameter.empty else p.default)
            for p in sig.parameters.values()
        }


_REGISTRY: dict[str, DatasetInfo] = {}


def register_dataset(name: str, description: str, needs_root: bool = False) -> Callable[[Builder], Builder]:
    """Decorator: register a dataset builder under `name`."""

    def wrap(fn: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"dataset {name!r} registered twice")
        _REGISTRY[name] = DatasetInfo(name, fn, description, needs_root)
        return fn

    return wrap


def list_datasets() -> list[DatasetInfo]:
    """Every registered dataset, built-in ones first."""
    return sorted(_REGISTRY.values(), key=lambda d: (d.needs_root, d.name))


def get_dataset_info(name: str) -> DatasetInfo:
    """The registry entry for `name`, or a ValueError listing the known names."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def load_dataset(name: str, **options: object) -> SplitDataset:
    """Build dataset `name` with `options` (e.g. ``root=`` for local folders). Cached per options.

    Options are checked against the builder's annotations first (text such as ``"32"`` or
    ``"no"`` is converted): a ValueError names an unknown option or a value of the wrong type.
    """
    info = get_dataset_info(name)
    checked = coerce_options(options, declared_types(info.builder), f"dataset {name!r}")
    return _load_cached(name, tuple(sorted(checked.items())))


@functools.lru_cache(maxsize=8)
def _load_cached(name: str, options: tuple[tuple[str, object], ...]) -> SplitDataset:
    return _REGISTRY[name].builder(**dict(options))
