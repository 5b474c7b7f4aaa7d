"""Model registry: built-in architectures by name, plus any torchvision classifier as ``tv:<name>``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from unlearn_core.models.base import SplitClassifier
from unlearn_core.options import coerce_options, declared_types
from unlearn_core.registry import BuilderEntry, Registry, builder_options

Builder = Callable[..., SplitClassifier]
MAX_WIDTH = 1024  # the widest built-in network a user may ask for (width 64 is a standard ResNet-18)
_FIXED = ("num_classes", "in_channels", "image_size")  # what every builder takes, not an option


@dataclass(frozen=True)
class ModelInfo(BuilderEntry):
    """A registered architecture: builder and one-line description."""

    def options(self) -> dict[str, object]:
        """Keyword options beyond the three every builder takes, with defaults."""
        return builder_options(self.builder, exclude=_FIXED)


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


def model_options(name: str, options: dict[str, object]) -> dict[str, object]:
    """`options` for architecture `name`, typed by its builder (text such as ``"16"`` converted).

    A ValueError names an unknown architecture, an unknown option, a value of the wrong type or
    a width out of range. torchvision architectures declare no option types: theirs pass as given.
    """
    fixed = sorted(set(options) & set(_FIXED))
    if fixed:
        raise ValueError(f"model {name!r}: {', '.join(fixed)} cannot be an option (it comes from the data)")
    if name.startswith(TORCHVISION_PREFIX):
        return dict(options)
    builder = _MODELS.get(name).builder  # a ValueError naming the choices for an unknown name
    checked = coerce_options(options, declared_types(builder, skip=_FIXED), f"model {name!r}")
    width = checked.get("width")
    if isinstance(width, int) and not 1 <= width <= MAX_WIDTH:  # 10^5 would ask for hundreds of GB
        raise ValueError(f"model {name!r}: width must be from 1 to {MAX_WIDTH}; got {width}")
    return checked


def build_model(
    name: str, *, num_classes: int, in_channels: int, image_size: int, **options: object
) -> SplitClassifier:
    """Build architecture `name` freshly initialised (weights are never downloaded)."""
    if num_classes < 2:
        raise ValueError(f"a classifier needs at least 2 classes; got {num_classes}")
    checked = model_options(name, options)
    if name.startswith(TORCHVISION_PREFIX):
        from unlearn_core.models.torchvision_models import build_torchvision

        return build_torchvision(
            name[len(TORCHVISION_PREFIX):], num_classes=num_classes, in_channels=in_channels,
            image_size=image_size, **checked,
        )
    return _MODELS.get(name).builder(num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                                     **checked)
