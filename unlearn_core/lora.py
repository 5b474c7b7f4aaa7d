"""A small LoRA (low-rank adaptation) for nn.Linear and nn.Conv2d, written for RFA.

`LoRALinear` / `LoRAConv2d` wrap a frozen base layer and add a residual branch
``R(x) = (alpha / rank) * B(A(x))``; A starts Kaiming-uniform and B at zero, so at the start
the wrapped layer returns exactly the base layer's output. `merge()` folds ``(alpha / rank)·B·A``
into a copy of the base weights and returns a plain layer, so a merged model has the original
architecture and state-dict keys. (PEFT does the same but needs `transformers`; this is the
subset we need: one adapter per layer, no dropout, no multi-adapter machinery.)

Parameter names: the wrapped layer's base is ``<layer>.base`` and the adapter's matrices are
``<layer>.adapter.lora_A`` / ``<layer>.adapter.lora_B`` (`is_lora_parameter` recognises them).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

ADAPTABLE = (nn.Linear, nn.Conv2d)


class _LinearAdapter(nn.Module):
    """The residual branch of a Linear: x [.., in] -> [.., out] through rank r."""

    def __init__(self, in_features: int, out_features: int, rank: int, scale: float) -> None:
        super().__init__()
        self.lora_A = nn.Parameter(torch.empty(rank, in_features))
        self.lora_B = nn.Parameter(torch.zeros(out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # nn.Linear's default init, as PEFT
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scale

    def delta_weight(self) -> torch.Tensor:
        """[out, in]: the weight the branch adds to the base."""
        return (self.lora_B @ self.lora_A) * self.scale


class _ConvAdapter(nn.Module):
    """The residual branch of a Conv2d: A is a conv with the base's kernel, stride and padding
    into `rank` channels, B a 1x1 conv back to the base's output channels."""

    def __init__(self, base: nn.Conv2d, rank: int, scale: float) -> None:
        super().__init__()
        kh, kw = base.kernel_size
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_channels, kh, kw))
        self.lora_B = nn.Parameter(torch.zeros(base.out_channels, rank, 1, 1))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scale = scale
        self.stride, self.padding, self.dilation = base.stride, base.padding, base.dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.conv2d(x, self.lora_A, None, self.stride, self.padding, self.dilation)  # [N, r, H', W']
        return F.conv2d(h, self.lora_B) * self.scale  # [N, C_out, H', W']

    def delta_weight(self) -> torch.Tensor:
        """[out, in, kh, kw]: the kernel the branch adds to the base."""
        rank = self.lora_A.shape[0]
        flat = self.lora_B.view(-1, rank) @ self.lora_A.view(rank, -1)  # [out, in*kh*kw]
        return flat.view(-1, *self.lora_A.shape[1:]) * self.scale


class _LoRABase(nn.Module):
    """Shared behaviour: frozen `base`, trainable `adapter`, forward = base + residual."""

    base: nn.Module
    adapter: nn.Module

    def __init__(self, base: nn.Module, rank: int, alpha: float) -> None:
        super().__init__()
        if rank < 1:
            raise ValueError(f"LoRA rank must be at least 1; got {rank}")
        if not (alpha > 0 and math.isfinite(alpha)):
            raise ValueError(f"LoRA alpha must be a positive number; got {alpha}")
        self.rank, self.alpha = rank, float(alpha)
        self.enabled = True  # False: the layer behaves as its base (see `adapters_disabled`)
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)

    @property
    def scale(self) -> float:
        return self.alpha / self.rank

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """The adapter's output R(x) = (alpha / rank)·B(A(x)) (zero while B is zero)."""
        return self.adapter(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return self.base(x)
        return self.base(x) + self.adapter(x)

    @torch.no_grad()
    def merge(self) -> nn.Module:
        """A plain copy of the base layer with ``(alpha / rank)·B·A`` added to its weight."""
        merged = _clone_layer(self.base)
        merged.weight.add_(self.adapter.delta_weight().to(merged.weight.dtype))
        return merged


class LoRALinear(_LoRABase):
    """nn.Linear plus a rank-`rank` residual branch; equals the base exactly while B = 0."""

    def __init__(self, base: nn.Linear, rank: int = 4, alpha: float = 8.0) -> None:
        super().__init__(base, rank, alpha)
        self.adapter = _LinearAdapter(base.in_features, base.out_features, rank, self.scale)
        self.adapter.to(base.weight.device)


class LoRAConv2d(_LoRABase):
    """nn.Conv2d (groups 1, zero padding) plus a rank-`rank` residual branch."""

    def __init__(self, base: nn.Conv2d, rank: int = 4, alpha: float = 8.0) -> None:
        if base.groups != 1:
            raise ValueError(f"LoRAConv2d supports groups=1 convolutions only; got groups={base.groups}")
        if base.padding_mode != "zeros" or isinstance(base.padding, str):
            raise ValueError("LoRAConv2d supports numeric zero padding only")
        super().__init__(base, rank, alpha)
        self.adapter = _ConvAdapter(base, rank, self.scale)
        self.adapter.to(base.weight.device)


LoRAModule = LoRALinear | LoRAConv2d


def _clone_layer(layer: nn.Module) -> nn.Module:
    """A copy of a Linear / Conv2d with fresh, trainable parameters holding the same values."""
    if isinstance(layer, nn.Linear):
        out: nn.Module = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
    else:
        assert isinstance(layer, nn.Conv2d)
        out = nn.Conv2d(
            layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
            padding=layer.padding, dilation=layer.dilation, groups=layer.groups,
            bias=layer.bias is not None, padding_mode=layer.padding_mode,
        )
    out.to(device=layer.weight.device, dtype=layer.weight.dtype)
    out.load_state_dict(layer.state_dict())
    return out


def is_lora_parameter(name: str) -> bool:
    """True for adapter parameters (``...adapter.lora_A`` / ``...adapter.lora_B``)."""
    return ".adapter.lora_" in name or name.startswith("adapter.lora_")


def adaptable_layers(model: nn.Module) -> list[str]:
    """Names (as in `named_modules()`) of the Linear and Conv2d layers LoRA can wrap, in order."""
    return [name for name, m in model.named_modules() if isinstance(m, ADAPTABLE) and name]


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def attach_lora(model: nn.Module, layer_names: list[str], rank: int = 4, alpha: float = 8.0) -> dict[str, LoRAModule]:
    """Wrap each named layer of `model` in place with a LoRA module; returns {name: LoRA module}.

    Raises ValueError naming the layer when it does not exist, is not a Linear / Conv2d, or is
    already wrapped.
    """
    if not layer_names:
        raise ValueError("attach_lora needs at least one layer name")
    modules = dict(model.named_modules())
    out: dict[str, LoRAModule] = {}
    for name in layer_names:
        layer = modules.get(name)
        if layer is None:
            raise ValueError(f"model has no layer {name!r}; adaptable layers: {', '.join(adaptable_layers(model))}")
        if isinstance(layer, _LoRABase):
            raise ValueError(f"layer {name!r} already carries a LoRA adapter")
        if isinstance(layer, nn.Linear):
            wrapped: LoRAModule = LoRALinear(layer, rank, alpha)
        elif isinstance(layer, nn.Conv2d):
            wrapped = LoRAConv2d(layer, rank, alpha)
        else:
            raise ValueError(f"layer {name!r} is a {type(layer).__name__}; LoRA wraps Linear and Conv2d layers")
        _set_submodule(model, name, wrapped)
        out[name] = wrapped
    return out


def lora_modules(model: nn.Module) -> dict[str, LoRAModule]:
    """Every LoRA module of `model` by name."""
    return {name: m for name, m in model.named_modules() if isinstance(m, _LoRABase)}  # type: ignore[misc]


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every LoRA module of `model` (in place) by its merged plain layer; returns `model`.

    The merged model has the architecture and state-dict keys it had before `attach_lora`.
    """
    for name, module in lora_modules(model).items():
        _set_submodule(model, name, module.merge())
    return model


@contextmanager
def adapters_disabled(model: nn.Module) -> Iterator[None]:
    """Within the block every LoRA layer of `model` returns its base output: the pre-trained model."""
    modules = list(lora_modules(model).values())
    flags = [m.enabled for m in modules]
    for m in modules:
        m.enabled = False
    try:
        yield
    finally:
        for m, flag in zip(modules, flags, strict=True):
            m.enabled = flag
