"""One small registry of named entries, shared by the dataset, model, method and metric registries.

Each of those keeps its own entry type (what the UI and the CLI say about an entry) and its own
`register_*` decorator; this module only holds the names: registering twice is an error, and an
unknown name gets a one-line message that lists the choices. A registry may load its built-in
entries lazily (the methods do, so that importing one method module does not import them all).
A dict and three functions: no library needed.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class BuilderEntry:
    """A registered builder (of a dataset, of a model) under its name, with a one-line description."""

    name: str
    builder: Callable[..., Any]
    description: str


def builder_options(builder: Callable[..., Any], exclude: Iterable[str] = ()) -> dict[str, object]:
    """A builder's keyword options (less `exclude`) and their defaults, None where there is none."""
    return {
        p.name: None if p.default is inspect.Parameter.empty else p.default
        for p in inspect.signature(builder).parameters.values()
        if p.name not in set(exclude)
    }


class Registry(Generic[T]):
    """Entries of one `kind` (``"dataset"``, ``"model"``, ...) by name.

    `load` is called once, before the first lookup, to register the built-in entries; `order` sorts
    `list()` (default: registration order); `hint` ends the unknown-name message (e.g. other
    accepted forms).
    """

    def __init__(
        self,
        kind: str,
        *,
        load: Callable[[], None] | None = None,
        order: Callable[[T], Any] | None = None,
        hint: str = "",
    ) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._load = load
        self._order = order
        self._hint = hint

    def register(self, name: str, entry: T) -> T:
        """Add `entry` under `name`; a ValueError if the name is taken."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Remove `name` (a test's or a plug-in's own entry); unknown names are ignored."""
        self._entries.pop(name, None)

    def _loaded(self) -> dict[str, T]:
        if self._load is not None:
            load, self._load = self._load, None  # before calling: the loader registers through us
            load()
        return self._entries

    def get(self, name: str) -> T:
        """The entry called `name`, or a ValueError naming the choices."""
        entries = self._loaded()
        if name not in entries:
            raise ValueError(f"unknown {self.kind} {name!r}; {self.kind}s: {', '.join(self.names())}{self._hint}")
        return entries[name]

    def _sorted(self) -> list[tuple[str, T]]:
        items = list(self._loaded().items())
        order = self._order
        return items if order is None else sorted(items, key=lambda item: order(item[1]))

    def list(self) -> list[T]:
        """Every entry, in the registry's order."""
        return [entry for _, entry in self._sorted()]

    def names(self) -> list[str]:
        """The names of `list()`, in the same order."""
        return [name for name, _ in self._sorted()]

    def __contains__(self, name: object) -> bool:
        return name in self._loaded()

    def __iter__(self) -> Iterator[T]:
        return iter(self.list())

    def __len__(self) -> int:
        return len(self._loaded())
