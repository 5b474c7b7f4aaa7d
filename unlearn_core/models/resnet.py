"""ResNet-18 with a CIFAR stem (3x3 conv, no max-pool) and a configurable width."""

from __future__ import annotations

import torch
from torch import nn

from unlearn_core.models.base import SplitClassifier
from unlearn_core.models.registry import register_model


class BasicBlock(nn.Module):
    """The two-conv residual block of ResNet-18 (He et al., 2016)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


@register_model("resnet18", "ResNet-18, CIFAR stem, width-configurable (width 64 = the standard one)")
def resnet18(*, num_classes: int, in_channels: int, image_size: int, width: int = 16) -> SplitClassifier:
    """Four stages of two BasicBlocks at widths w, 2w, 4w, 8w; features are 8w-dimensional."""
    del image_size
    w = width
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, w, 3, 1, 1, bias=False),
        nn.BatchNorm2d(w),
        nn.ReLU(inplace=True),
    ]
    c_in = w
    for stage, c_out in enumerate((w, 2 * w, 4 * w, 8 * w)):
        stride = 1 if stage == 0 else 2
        layers.append(nn.Sequential(BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1)))
        c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return SplitClassifier(nn.Sequential(*layers), nn.Linear(8 * w, num_classes))
