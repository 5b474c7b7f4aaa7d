"""Forget sets: what to forget, as text, resolved against a dataset to exact index sets.

Text forms (stored with every run and accepted by the CLI's ``--forget``):

- ``class:3`` or ``class:3,5``: whole classes (test counterpart: those classes' test samples)
- ``random:0.1``: a seeded random 10% of the train set
- ``random:0.1@2,5``: 10% of the train set drawn from classes 2 and 5 only (non-IID)
- ``indices:PATH``: one train index per line
- ``concept:color=red``: every train sample carrying a concept value (test counterpart: the
  test samples carrying it)
- ``flag:mislabeled`` / ``flag:backdoor``: the samples flagged in the metadata

`UnlearnData` pairs a dataset with its resolved `ForgetSet`: what methods, localizers and the
evaluation read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from unlearn_core.data import SplitDataset
from unlearn_core.options import parse_float, parse_int

KINDS = ("class", "random", "indices", "concept", "flag")


@dataclass(frozen=True)
class ForgetSet:
    """A resolved forget set: train indices to forget and retain, and the matching test slice.

    `test_forget_idx` is None when the forget set has no test counterpart (random samples,
    explicit indices, flags). `forget_classes` lists whole forgotten classes (class kind only).
    """

    spec: str
    kind: str
    forget_idx: np.ndarray
    retain_idx: np.ndarray
    forget_classes: tuple[int, ...] = ()
    test_forget_idx: np.ndarray | None = None

    @property
    def n_forget(self) -> int:
        return int(len(self.forget_idx))

    @property
    def n_retain(self) -> int:
        return int(len(self.retain_idx))

    @property
    def category(self) -> str:
        """``class``, ``concept`` or ``samples``: what a method must support to run on it."""
        return self.kind if self.kind in ("class", "concept") else "samples"

    def test_retain_idx(self, n_test: int) -> np.ndarray:
        """Test indices outside the forgotten slice (all of them if there is no slice)."""
        keep = np.ones(n_test, dtype=bool)
        if self.test_forget_idx is not None:
            keep[self.test_forget_idx] = False
        return np.flatnonzero(keep)


@dataclass
class UnlearnData:
    """What a method, a localizer or an evaluation reads: the dataset and the resolved forget set."""

    dataset: SplitDataset
    forget: ForgetSet

    @property
    def x_forget(self) -> torch.Tensor:
        return self.dataset.train.x[torch.as_tensor(self.forget.forget_idx)]

    @property
    def y_forget(self) -> torch.Tensor:
        return self.dataset.train.y[torch.as_tensor(self.forget.forget_idx)]

    @property
    def x_retain(self) -> torch.Tensor:
        return self.dataset.train.x[torch.as_tensor(self.forget.retain_idx)]

    @property
    def y_retain(self) -> torch.Tensor:
        return self.dataset.train.y[torch.as_tensor(self.forget.retain_idx)]

    @property
    def num_classes(self) -> int:
        return self.dataset.num_classes

    def retain_subset(self, max_n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A seeded random sample of at most `max_n` retain images and labels."""
        idx = self.forget.retain_idx
        if len(idx) > max_n:
            idx = np.sort(np.random.default_rng(seed).choice(idx, size=max_n, replace=False))
        t = torch.as_tensor(idx)
        return self.dataset.train.x[t], self.dataset.train.y[t]


def _ints(text: str, what: str) -> list[int]:
    try:
        values = [parse_int(v) for v in text.split(",") if v.strip() != ""]
    except ValueError:
        raise ValueError(f"{what} must be comma-separated integers; got {text!r}") from None
    if not values:
        raise ValueError(f"{what} is empty")
    return values


def parse_spec(text: str) -> tuple[str, str]:
    """Split ``kind:argument`` and check the kind; ValueError with the accepted forms otherwise."""
    kind, sep, arg = text.strip().partition(":")
    if not sep or kind not in KINDS or not arg.strip():
        raise ValueError(
            f"bad forget spec {text!r}; use class:3 | class:3,5 | random:0.1 | random:0.1@2,5 | "
            "indices:PATH | concept:color=red | flag:mislabeled | flag:backdoor"
        )
    return kind, arg.strip()


def resolve(spec: str, data: SplitDataset, seed: int = 0) -> ForgetSet:
    """Resolve `spec` against `data` (random kinds use `seed`); refuses empty and total sets."""
    kind, arg = parse_spec(spec)
    n = len(data.train)
    y = data.train.y.numpy()
    classes: tuple[int, ...] = ()
    test_idx: np.ndarray | None = None
    if kind == "class":
        classes = tuple(sorted(set(_ints(arg, "class list"))))
        bad = [c for c in classes if not 0 <= c < data.num_classes]
        if bad:
            raise ValueError(f"class {bad[0]} does not exist; classes are 0..{data.num_classes - 1}")
        forget = np.flatnonzero(np.isin(y, classes))
        test_idx = np.flatnonzero(np.isin(data.test.y.numpy(), classes))
    elif kind == "random":
        forget = _random(arg, y, data.num_classes, seed)
    elif kind == "indices":
        forget = _indices_from_file(arg, n)
    elif kind == "concept":
        forget, test_idx = _concept(arg, data)
    else:
        if arg not in data.train.meta or data.train.meta[arg].dtype != bool:
            flags = sorted(k for k, v in data.train.meta.items() if v.dtype == bool)
            raise ValueError(f"dataset {data.name!r} has no flag {arg!r}; flags: {', '.join(flags) or 'none'}")
        forget = np.flatnonzero(data.train.meta[arg])
    forget = np.unique(forget.astype(np.int64))
    if len(forget) == 0:
        raise ValueError(f"forget set {spec!r} is empty on {data.name}: nothing to forget")
    if len(forget) >= n:
        raise ValueError(f"forget set {spec!r} holds the whole train set: nothing would be left to retain")
    retain = np.setdiff1d(np.arange(n), forget)
    return ForgetSet(spec, kind, forget, retain, classes, test_idx)


def _random(arg: str, y: np.ndarray, num_classes: int, seed: int) -> np.ndarray:
    frac_text, at, classes_text = arg.partition("@")
    try:
        frac = parse_float(frac_text)
    except ValueError:
        raise ValueError(f"random fraction must be a number in (0, 1); got {frac_text!r}") from None
    if not 0 < frac < 1:
        raise ValueError(f"random fraction must be in (0, 1); got {frac}")
    pool = np.arange(len(y))
    if at:
        classes = _ints(classes_text, "class list")
        bad = [c for c in classes if not 0 <= c < num_classes]
        if bad:
            raise ValueError(f"class {bad[0]} does not exist; classes are 0..{num_classes - 1}")
        pool = np.flatnonzero(np.isin(y, classes))
    k = int(round(frac * len(y)))  # a fraction of the whole train set, as in DEL's non-IID setting
    if k > len(pool):
        raise ValueError(f"{frac:.0%} of the train set is {k} samples but the chosen classes hold only {len(pool)}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(pool, size=max(k, 1), replace=False))


def _indices_from_file(path_text: str, n: int) -> np.ndarray:
    path = Path(path_text)
    if not path.is_file():
        raise ValueError(f"index file not found: {path}")
    try:
        values = [parse_int(line) for line in path.read_text().split() if line.strip()]
    except (ValueError, UnicodeDecodeError):
        raise ValueError(f"{path} must hold one integer train index per line") from None
    bad = [v for v in values if not 0 <= v < n]
    if bad:
        raise ValueError(f"index {bad[0]} in {path} is out of range: the train set has indices 0..{n - 1}")
    return np.asarray(values, dtype=np.int64)


def _concept(arg: str, data: SplitDataset) -> tuple[np.ndarray, np.ndarray]:
    attr, sep, value = arg.partition("=")
    if not sep or attr not in data.concepts:
        known = ", ".join(f"{a}=" + "|".join(v) for a, v in data.concepts.items()) or "none"
        raise ValueError(f"bad concept {arg!r} for {data.name}; concepts: {known}")
    if value not in data.concepts[attr]:
        raise ValueError(f"concept {attr} has no value {value!r}; values: {', '.join(data.concepts[attr])}")
    code = data.concepts[attr].index(value)
    return np.flatnonzero(data.train.meta[attr] == code), np.flatnonzero(data.test.meta[attr] == code)
