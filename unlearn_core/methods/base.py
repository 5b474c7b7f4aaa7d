"""The method extension point: config dataclasses, the data a method sees, and its result.

A method is one function ``(model, data, config, context) -> UnlearnResult`` registered with
`register_method` (see registry.py). The runner hands it a private copy of the model; the
method never evaluates itself: evaluation lives in `unlearn_core.metrics`. `UnlearnData` (what a
method reads) lives next to `ForgetSet` in `unlearn_core.forget`; it is imported here so that a
method module finds everything it needs in one place.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any

import torch

from ..forget import UnlearnData
from ..models import ModelMeta, SplitClassifier
from ..progress import ProgressEvent, ProgressFn, StopFn, never_stop, no_progress
from ..train import TrainConfig

__all__ = ["MethodConfig", "RunContext", "UnlearnData", "UnlearnResult", "config_from_strings", "param"]


def param(
    default: Any,
    help: str,
    *,
    min: float | None = None,
    max: float | None = None,
    choices: tuple[Any, ...] | None = None,
    paper: str | None = None,
) -> Any:
    """A config field with its help text, allowed range or choices and the paper's value.

    The UI builds its form from these and `MethodConfig.__post_init__` validates against them.
    """
    meta = {"help": help, "min": min, "max": max, "choices": choices, "paper": paper}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class MethodConfig:
    """Base of every method's frozen config: validates each field against its `param` metadata."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            kind = hints.get(f.name)
            if kind in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ValueError(f"{type(self).__name__}.{f.name} must be a number; got {value!r}")
            if kind is float and not math.isfinite(value):
                raise ValueError(f"{type(self).__name__}.{f.name} must be finite; got {value!r}")
            lo, hi, choices = f.metadata.get("min"), f.metadata.get("max"), f.metadata.get("choices")
            if lo is not None and value < lo:
                raise ValueError(f"{type(self).__name__}.{f.name} must be >= {lo}; got {value!r}")
            if hi is not None and value > hi:
                raise ValueError(f"{type(self).__name__}.{f.name} must be <= {hi}; got {value!r}")
            if choices is not None and value not in choices:
                raise ValueError(
                    f"{type(self).__name__}.{f.name} must be one of {', '.join(map(str, choices))}; got {value!r}"
                )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def config_from_strings(cls: type[MethodConfig], values: dict[str, str]) -> MethodConfig:
    """Build `cls` from ``key=value`` strings (CLI ``--set``), converting to each field's type."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, raw in values.items():
        if key not in fields:
            raise ValueError(f"{cls.__name__} has no parameter {key!r}; parameters: {', '.join(fields)}")
        kind = hints[key]
        try:
            if kind is bool:
                if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                kwargs[key] = raw.lower() in ("true", "1", "yes")
            elif kind in (int, float, str):
                kwargs[key] = kind(raw)
            else:
                kwargs[key] = raw
        except ValueError:
            raise ValueError(f"{cls.__name__}.{key} expects {getattr(kind, '__name__', kind)}; got {raw!r}") from None
    return cls(**kwargs)


@dataclass
class RunContext:
    """How to run: device, seed, progress and cancellation, and the original model's provenance.

    `meta` carries the architecture and the training recipe, which Retrain reuses on D_r.
    """

    device: torch.device
    meta: ModelMeta
    seed: int = 0
    progress: ProgressFn = no_progress
    should_stop: StopFn = never_stop

    @property
    def recipe(self) -> TrainConfig:
        return TrainConfig(**{**self.meta.recipe, "seed": self.seed}) if self.meta.recipe else TrainConfig(seed=self.seed)

    def report(self, step: int, total: int, message: str, **metrics: float) -> None:
        """Send a progress event."""
        self.progress(ProgressEvent(step, total, message, dict(metrics)))


@dataclass
class UnlearnResult:
    """A method's output: the unlearned model, an optional parameter mask and artifacts.

    `mask` maps parameter names to 0/1 tensors (localized methods: what was selected);
    `artifacts` holds what the UI may draw (noise images, adversarial features, stage
    accuracies, ...), as CPU tensors, numpy arrays or plain values.
    """

    model: SplitClassifier
    mask: dict[str, torch.Tensor] | None = None
    artifacts: dict[str, Any] = field(default_factory=dict)
