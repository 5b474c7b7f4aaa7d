"""Any torchvision classification architecture, split into features and head (never downloads)."""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from unlearn_core.models.base import SplitClassifier


class _GrayToRGB(nn.Module):
    """Repeat a 1-channel image to 3 channels so ImageNet-style stems accept it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def _detach_last_linear(model: nn.Module) -> nn.Linear:
    """Replace the model's last nn.Linear by Identity (in place) and return it."""
    last_name = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last_name = name
    if last_name is None:
        raise ValueError("this architecture has no nn.Linear classification head")
    parent_name, _, attr = last_name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    linear = getattr(parent, attr) if not attr.isdigit() else parent[int(attr)]
    if attr.isdigit():
        parent[int(attr)] = nn.Identity()
    else:
        setattr(parent, attr, nn.Identity())
    return linear


def build_torchvision(
    arch: str, *, num_classes: int, in_channels: int, image_size: int, **options: object
) -> SplitClassifier:
    """torchvision's `arch` with random weights; its last Linear becomes the head."""
    available = torchvision.models.list_models(module=torchvision.models)
    if arch not in available:
        raise ValueError(f"torchvision has no classification model {arch!r}; e.g. {', '.join(available[:8])}, ...")
    if in_channels not in (1, 3):
        raise ValueError(f"torchvision models take 1- or 3-channel images; got {in_channels}")
    try:
        net = torchvision.models.get_model(arch, weights=None, num_classes=num_classes, **options)
    except TypeError as err:  # an option the architecture does not take (or one given twice)
        given = ", ".join(f"{k}={v!r}" for k, v in options.items())
        raise ValueError(f"torchvision {arch} does not accept the option(s) {given}: {err}") from None
    old_head = _detach_last_linear(net)
    features = nn.Sequential(_GrayToRGB(), net, nn.Flatten())
    model = SplitClassifier(features, nn.Linear(old_head.in_features, num_classes))
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(2, in_channels, image_size, image_size))
    except RuntimeError as err:
        raise ValueError(f"{arch} cannot take {image_size}x{image_size} images: {err}") from err
    return model
