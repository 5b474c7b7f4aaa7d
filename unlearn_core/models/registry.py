"""Model registry: built-in architectures by name, plus any torchvision classifier as ``tv:<name>``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from ..options import coerce_options, declared_types
from .base import SplitClassifier

Builder = Callable[..., SplitClassifier]
MAX_WIDTH = 1024  # the widest built-in network a user may ask for (width 64 is a standard ResNet-18)
_FIXED = ("num_classes", "in_channels", "image_size")  # what every builder takes, not an option


@dataclass(frozen=True)
class ModelInfo:
    """A registered architecture: builder and one-line description."""

    name: str
    builder: Builder
    description: str

    def options(self) -> dict[str, object]:
        """Keyword options beyond the three every builder takes, with defaults."""
        return {
            p.name: p.default
            for p in inspect.signature(self.builder).parameters.values()
            if p.name not in _FIXED
        }


_REGISTRY: dict[str, ModelInfo] = {}
TORCHVISION_PREFIX = "tv:"


def register_model(name: str, description: str) -> Callable[[Builder], Builder]:
    """Decorator: register a builder `(*, num_classes, in_channels, image_size, **opts)`."""

    def wrap(fn: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelInfo(name, fn, description)
        return fn

    return wrap


def list_models() -> list[ModelInfo]:
    """The built-in architectures (torchvision ones are reachable as ``tv:<name>``)."""
    return sorted(_REGISTRY.values(), key=lambda m: m.name)


def build_model(
    name: str, *, num_classes: int, in_channels: int, image_size: int, **options: object
) -> SplitClassifier:
    """Build architecture `name` freshly initialised (weights are never downloaded)."""
    if num_classes < 2:
        raise ValueError(f"a classifier needs at least 2 classes; got {num_classes}")
    if name.startswith(TORCHVISION_PREFIX):
        from .torchvision_models import build_torchvision

        return build_torchvision(
            name[len(TORCHVISION_PREFIX):], num_classes=num_classes, in_channels=in_channels,
            image_size=image_size, **options,
        )
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown model {name!r}; built in: {', '.join(sorted(_REGISTRY))}, "
            f"or any torchvision classifier as '{TORCHVISION_PREFIX}<name>' (e.g. tv:mobilenet_v3_small)"
        )
    info = _REGISTRY[name]
    checked = coerce_options(options, declared_types(info.builder, skip=_FIXED), f"model {name!r}")
    width = checked.get("width")
    if isinstance(width, int) and not 1 <= width <= MAX_WIDTH:  # 10^5 would ask for hundreds of GB
        raise ValueError(f"model {name!r}: width must be from 1 to {MAX_WIDTH}; got {width}")
    return info.builder(num_classes=num_classes, in_channels=in_channels, image_size=image_size, **checked)
