"""Typed options: ``key=value`` text (CLI ``--data-option`` / ``--model-option``) checked against
the types a dataset builder, a model builder or a recipe declares.

Builders declare their options as annotated keyword parameters (``size: int = 32``,
``grayscale: bool = False``, ``limit: int | None = None``). A value given as text is converted by
that annotation; a value given as an object must already have that type. Anything else is a
ValueError naming the option, the expected type and the value, so that ``size=abc`` or
``grayscale=maybe`` never reaches the builder (where it would be a TypeError, or worse, a truthy
string silently taken as True). Written here rather than taken from a validation library: the
annotations are the schema, and this covers the few types they use.
"""

from __future__ import annotations

import math
import re
import types
import typing
from collections.abc import Callable, Iterable

TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")
NONE_WORDS = ("none", "null")
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def parse_int(text: str) -> int:
    """An integer written in ASCII digits (``"3"``, ``"-2"``); ValueError for anything else.

    Python's ``int`` also reads other scripts' digits (``int("٣") == 3``) and underscores; a
    value typed at the command line or stored in a file is read only in the one spelling shown
    back to the user.
    """
    if not isinstance(text, str) or _INT.fullmatch(text.strip()) is None:
        raise ValueError(f"not an integer in ASCII digits: {text!r}")
    return int(text.strip())


def parse_float(text: str) -> float:
    """A finite number written in ASCII (``"0.1"``, ``"1e-3"``); ValueError for anything else
    (other scripts' digits, underscores, nan, inf)."""
    if not isinstance(text, str) or _FLOAT.fullmatch(text.strip()) is None:
        raise ValueError(f"not a number in ASCII digits: {text!r}")
    value = float(text.strip())
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {text!r}")
    return value


def split_pairs(pairs: Iterable[str] | None, flag: str) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; a ValueError naming `flag` for a pair without ``=``."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{flag} expects key=value; got {pair!r}")
        out[key.strip()] = raw
    return out


def declared_types(fn: Callable[..., object], skip: Iterable[str] = ()) -> dict[str, object]:
    """The annotated keyword parameters of `fn` (minus `skip`) and their types."""
    hints = typing.get_type_hints(fn)
    hints.pop("return", None)
    return {k: v for k, v in hints.items() if k not in set(skip)}


def _type_name(kind: object) -> str:
    if typing.get_origin(kind) is typing.Literal:
        return " or ".join(repr(a) for a in typing.get_args(kind))
    if _is_union(kind):
        return " or ".join(_type_name(a) for a in typing.get_args(kind))
    return {bool: "true/false", int: "an integer", float: "a number", str: "text", type(None): "none"}.get(
        kind, getattr(kind, "__name__", str(kind))
    )


def _is_union(kind: object) -> bool:
    return isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union


def _from_text(raw: str, kind: object) -> object:
    """`raw` converted to `kind`; ValueError if it does not spell a value of that type."""
    word = raw.strip().lower()
    if _is_union(kind):
        for option in typing.get_args(kind):
            try:
                return _from_text(raw, option)
            except ValueError:
                continue
        raise ValueError
    if kind is type(None):
        if word in NONE_WORDS:
            return None
        raise ValueError
    if typing.get_origin(kind) is typing.Literal:
        if raw in typing.get_args(kind):
            return raw
        raise ValueError
    if kind is bool:
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ValueError
    if kind is int:
        return parse_int(raw)
    if kind is float:
        return parse_float(raw)
    if kind is str:
        return raw
    raise ValueError


def _has_type(value: object, kind: object) -> bool:
    """Whether an object already has the declared type (an int counts as a float; a bool as neither)."""
    if _is_union(kind):
        return any(_has_type(value, option) for option in typing.get_args(kind))
    if kind is type(None):
        return value is None
    if typing.get_origin(kind) is typing.Literal:
        return value in typing.get_args(kind)
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if isinstance(kind, type):
        return isinstance(value, kind)
    return True  # an annotation this module does not know: left to the builder


def coerce_options(options: dict[str, object], declared: dict[str, object], owner: str) -> dict[str, object]:
    """`options` with text converted to the declared types, or a ValueError naming the first bad one.

    Unknown option names are refused too, listing the known ones. A new dict is returned; the
    caller's is not changed.
    """
    unknown = sorted(set(options) - set(declared), key=str)
    if unknown:
        shown = ", ".join(k if isinstance(k, str) and k.isprintable() else repr(k) for k in unknown)
        raise ValueError(f"{owner} has no option(s) {shown}; options: {', '.join(declared) or 'none'}")
    out: dict[str, object] = {}
    for key, value in options.items():
        kind = declared[key]
        if _has_type(value, kind):
            out[key] = value
            continue
        if isinstance(value, str):
            try:
                out[key] = _from_text(value, kind)
                continue
            except ValueError:
                pass
        raise ValueError(f"{owner}: option {key} expects {_type_name(kind)}; got {value!r}")
    return out


__all__ = ["FALSE_WORDS", "TRUE_WORDS", "coerce_options", "declared_types", "parse_float", "parse_int", "split_pairs"]
