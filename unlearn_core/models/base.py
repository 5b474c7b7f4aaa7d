"""The model contract: a feature extractor and a linear classification head, kept separate.

Embedding views, last-layer methods (Layer Attack Unlearning), concept probes and head-only
finetuning all need the penultimate features `z = features(x)` and the head `head(z)`.
"""

from __future__ import annotations

import torch
from torch import nn


class SplitClassifier(nn.Module):
    """`forward(x) = head(features(x))` with `features` returning [N, D] and `head` an nn.Linear."""

    def __init__(self, features: nn.Module, head: nn.Linear) -> None:
        super().__init__()
        self.features = features
        self.head = head

    @property
    def feature_dim(self) -> int:
        return self.head.in_features

    @property
    def num_classes(self) -> int:
        return self.head.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def head_parameter_names(self) -> list[str]:
        """Names (as in `named_parameters()`) of the classification head's parameters."""
        return [f"head.{n}" for n, _ in self.head.named_parameters()]
