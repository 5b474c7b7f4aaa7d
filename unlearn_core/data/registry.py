"""One registry of datasets: `load_dataset(name, **options)` returns a SplitDataset."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from unlearn_core.data.base import SplitDataset
from unlearn_core.options import coerce_options, declared_types
from unlearn_core.registry import BuilderEntry, Registry, builder_options

Builder = Callable[..., SplitDataset]


@dataclass(frozen=True)
class DatasetInfo(BuilderEntry):
    """A registered dataset: its builder, a one-line description and whether it needs a folder."""

    needs_root: bool = False

    def options(self) -> dict[str, object]:
        """The builder's keyword options and their defaults."""
        return builder_options(self.builder)


_DATASETS: Registry[DatasetInfo] = Registry("dataset", order=lambda d: (d.needs_root, d.name))


def register_dataset(name: str, description: str, needs_root: bool = False) -> Callable[[Builder], Builder]:
    """Decorator: register a dataset builder under `name`."""

    def wrap(fn: Builder) -> Builder:
        _DATASETS.register(name, DatasetInfo(name, fn, description, needs_root))
        return fn

    return wrap


def list_datasets() -> list[DatasetInfo]:
    """Every registered dataset, built-in ones first."""
    return _DATASETS.list()


def get_dataset_info(name: str) -> DatasetInfo:
    """The registry entry for `name`, or a ValueError listing the known names."""
    return _DATASETS.get(name)


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
    return _DATASETS.get(name).builder(**dict(options))
