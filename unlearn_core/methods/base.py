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
from typing import Any, ClassVar

import torch

from unlearn_core.forget import ForgetSet, UnlearnData
from unlearn_core.models import ModelMeta, SplitClassifier
from unlearn_core.options import parse_float, parse_int
from unlearn_core.progress import ProgressEvent, ProgressFn, StopFn, never_stop, no_progress
from unlearn_core.train import TrainConfig

__all__ = [
    "MethodConfig", "ParamSpec", "RunContext", "UnlearnData", "UnlearnResult", "config_from_strings", "config_schema",
    "param",
]


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

    `config_schema` reads them: the Unlearn form, ``methods --json``, ``--set`` parsing and
    `MethodConfig.__post_init__`'s validation.
    """
    meta = {"help": help, "min": min, "max": max, "choices": choices, "paper": paper}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ParamSpec:
    """One config field as the form, the CLI and the validation see it."""

    name: str
    type: type  # bool, int, float or str
    default: Any
    help: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    paper: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly (``methods --json``'s ``schema``): the type by name."""
        return {**dataclasses.asdict(self), "type": self.type.__name__,
                "choices": None if self.choices is None else list(self.choices)}


def config_schema(cls: type[MethodConfig]) -> list[ParamSpec]:
    """The fields of a method's config class with their type, default, help, range, choices and paper value."""
    hints = typing.get_type_hints(cls)
    return [
        ParamSpec(f.name, hints[f.name], f.default, f.metadata.get("help", ""), f.metadata.get("min"),
                  f.metadata.get("max"), f.metadata.get("choices"), f.metadata.get("paper"))
        for f in dataclasses.fields(cls)
    ]


@typing.dataclass_transform(frozen_default=True, field_specifiers=(param,))
@dataclass(frozen=True)
class MethodConfig:
    """Base of every method's config: validates each field against its `param` metadata.

    A subclass is made a frozen dataclass when it is defined, so it takes no ``@dataclass``
    decorator (one would fail: the class already is one).
    """

    # Where the defaults miss retraining and which setting works, in words (no figures): the Unlearn
    # page shows it above the form, with the figures read from the stored benchmark tables named in
    # `caveat_results` (file stems in benchmarks/results/, e.g. "digits-random_0.1@2_5").
    caveats: ClassVar[str] = ""
    caveat_results: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclass(frozen=True)(cls)

    def __post_init__(self) -> None:
        for spec in config_schema(type(self)):
            value, name = getattr(self, spec.name), f"{type(self).__name__}.{spec.name}"
            if spec.type in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ValueError(f"{name} must be a number; got {value!r}")
            if spec.type is float and not math.isfinite(value):
                raise ValueError(f"{name} must be finite; got {value!r}")
            if spec.min is not None and value < spec.min:
                raise ValueError(f"{name} must be >= {spec.min}; got {value!r}")
            if spec.max is not None and value > spec.max:
                raise ValueError(f"{name} must be <= {spec.max}; got {value!r}")
            if spec.choices is not None and value not in spec.choices:
                raise ValueError(f"{name} must be one of {', '.join(map(str, spec.choices))}; got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def resolved_defaults(self, forget: ForgetSet, meta: ModelMeta) -> dict[str, Any]:
        """What this config's "auto" fields (those left at their auto value, 0 or -1) resolve to on
        `forget` for the model described by `meta`: field name -> the value a run would use, or a
        short sentence where only the run can tell (e.g. a choice made from the trained model).

        Empty for a method without auto fields; a method with some overrides it next to the code
        that resolves them, so the form and the run never disagree.
        """
        return {}


def config_from_strings(cls: type[MethodConfig], values: dict[str, str]) -> MethodConfig:
    """Build `cls` from ``key=value`` strings (CLI ``--set``), converting to each field's type."""
    types = {spec.name: spec.type for spec in config_schema(cls)}
    kwargs: dict[str, Any] = {}
    for key, raw in values.items():
        if key not in types:
            raise ValueError(f"{cls.__name__} has no parameter {key!r}; parameters: {', '.join(types)}")
        kind = types[key]
        try:
            if kind is bool:
                if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                kwargs[key] = raw.lower() in ("true", "1", "yes")
            elif kind is int:
                kwargs[key] = parse_int(raw)
            elif kind is float:
                kwargs[key] = parse_float(raw)
            elif kind is str:
                kwargs[key] = raw
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
