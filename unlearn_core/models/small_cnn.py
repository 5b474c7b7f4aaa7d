"""A small CNN for 1- or 3-channel images of 8-64 px: fast enough to retrain in seconds on a CPU."""

from __future__ import annotations

from torch import nn

from unlearn_core.models.base import SplitClassifier
from unlearn_core.models.registry import register_model


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


@register_model("small_cnn", "4 conv layers (BN, ReLU), global average pooling, linear head")
def small_cnn(*, num_classes: int, in_channels: int, image_size: int, width: int = 32) -> SplitClassifier:
    """Conv blocks of width w, w, 2w, 2w with two 2x2 max-pools; features are 2w-dimensional."""
    del image_size  # global pooling makes the network size-agnostic
    w = width
    features = nn.Sequential(
        _block(in_channels, w),
        _block(w, w),
        nn.MaxPool2d(2),
        _block(w, 2 * w),
        nn.MaxPool2d(2),
        _block(2 * w, 2 * w),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )
    return SplitClassifier(features, nn.Linear(2 * w, num_classes))
