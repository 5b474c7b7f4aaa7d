"""Model registry: built-in architectures by name, plus any torchvision classifier as ``tv:<name>``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..registry import BuilderEntry, Registry, builder_options
from .base import SplitClassifier

Builder = Callable[..., SplitClassifier]


@dataclass(frozen=True)
class ModelInfo(BuilderEntry):
    """A registered architecture: builder and one-line description."""

    def options(self) -> dict[str, object]:
        """Keyword options beyond the three every builder takes, with defaults."""
        return builder_options(self.builder, exclude=("num_classes", "in_channels", "image_size"))


TORCHVISION_PREFIX = "tv:"
_MODELS: Registry[ModelInfo] = Registry(
    "model", order=lambda m: m.name, hint=f", or any torchvision classifier as '{TORCHVISION_PREFIX}<name>' (e.g. tv:mobilenet_v3_small)"
)


def register_model(name: str, description: str) -> Callable[[Builder], Builder]:
    """Decorator: register a builder `(*, num_classes, in_channels, image_size, **opts)`."""

    def wrap(fn: Builder) -> Builder:
        _MODELS.register(name, ModelInfo(name, fn, description))
        return fn

    return wrap


def list_models() -> list[ModelInfo]:
    """The built-in architectures (torchvision ones are reachable as ``tv:<name>``)."""
    return _MODELS.list()


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
    info = _MODELS.get(name)
    unknown = set(options) - set(info.options())
    if unknown:
        raise ValueError(f"model {name!r} has no option(s) {', '.join(sorted(unknown))}")
    return info.builder(num_classes=num_classes, in_channels=in_channels, image_size=image_size, **options)
