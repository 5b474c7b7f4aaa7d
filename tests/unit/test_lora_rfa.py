"""LoRA wrappers (exact at start, merge, only adapters train) and the RFA method."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from unlearn_core.forget import resolve
from unlearn_core.lora import (
    LoRAConv2d,
    LoRALinear,
    adaptable_layers,
    adapters_disabled,
    attach_lora,
    is_lora_parameter,
    lora_modules,
    merge_lora,
)
from unlearn_core.methods import RunContext, UnlearnData, run_method
from unlearn_core.methods.rfa import RFAConfig
from unlearn_core.train import Batches, TrainConfig, accuracy, extract_features, fit, predict_logits

pytestmark = pytest.mark.usefixtures("single_thread")


def _randomise_b(module: nn.Module) -> None:
    with torch.no_grad():
        for m in lora_modules(module).values() if not isinstance(module, (LoRALinear, LoRAConv2d)) else [module]:
            m.adapter.lora_B.normal_(0, 0.5)


def test_lora_linear_starts_exactly_at_base() -> None:
    torch.manual_seed(0)
    base = nn.Linear(12, 5)
    x = torch.randn(7, 12)
    expected = base(x)
    lora = LoRALinear(base, rank=4, alpha=8)
    assert torch.equal(lora(x), expected)
    assert torch.equal(lora.residual(x), torch.zeros(7, 5))
    assert not any(p.requires_grad for p in lora.base.parameters())


@pytest.mark.parametrize("stride,padding,bias", [(1, 1, False), (2, 0, True)])
def test_lora_conv_starts_exactly_at_base(stride: int, padding: int, bias: bool) -> None:
    torch.manual_seed(0)
    base = nn.Conv2d(3, 8, 3, stride=stride, padding=padding, bias=bias)
    x = torch.randn(2, 3, 9, 9)
    expected = base(x)
    lora = LoRAConv2d(base, rank=2, alpha=4)
    assert torch.equal(lora(x), expected)
    assert lora.residual(x).shape == expected.shape


@pytest.mark.parametrize("make", [lambda: nn.Linear(10, 6), lambda: nn.Conv2d(4, 6, 3, padding=1, stride=2)])
def test_merge_equals_unmerged(make) -> None:
    torch.manual_seed(1)
    base = make()
    x = torch.randn(5, 10) if isinstance(base, nn.Linear) else torch.randn(5, 4, 8, 8)
    lora = LoRALinear(base, 4, 8) if isinstance(base, nn.Linear) else LoRAConv2d(base, 4, 8)
    _randomise_b(lora)
    assert not torch.allclose(lora(x), base(x))  # the adapter does something
    merged = lora.merge()
    assert type(merged) is type(base)
    torch.testing.assert_close(merged(x), lora(x), rtol=1e-5, atol=1e-5)
    assert all(p.requires_grad for p in merged.parameters())


def test_attach_and_merge_keep_architecture(digits_model) -> None:
    model = copy.deepcopy(digits_model[0]).eval()
    keys = list(model.state_dict())
    x = torch.rand(6, 1, 16, 16)
    before = model(x)
    lora = attach_lora(model, ["features.5.0", "head"], rank=4, alpha=8)
    assert set(lora) == {"features.5.0", "head"}
    assert torch.equal(model(x), before)
    _randomise_b(model)
    adapted = model(x)
    with adapters_disabled(model):
        assert torch.equal(model(x), before)
    merge_lora(model)
    assert list(model.state_dict()) == keys
    assert not lora_modules(model)
    torch.testing.assert_close(model(x), adapted, rtol=1e-4, atol=1e-4)


def test_attach_rejects_bad_layers(digits_model) -> None:
    model = copy.deepcopy(digits_model[0])
    assert "head" in adaptable_layers(model)
    with pytest.raises(ValueError, match="no layer"):
        attach_lora(model, ["nope"])
    with pytest.raises(ValueError, match="BatchNorm2d"):
        attach_lora(model, ["features.0.1"])
    attach_lora(model, ["head"])
    with pytest.raises(ValueError, match="already"):
        attach_lora(model, ["head"])
    with pytest.raises(ValueError, match="rank"):
        LoRALinear(nn.Linear(3, 3), rank=0)


def test_only_adapter_parameters_change_in_training(digits, digits_model, cpu) -> None:
    model = copy.deepcopy(digits_model[0])
    attach_lora(model, ["features.5.0", "head"], rank=2, alpha=4)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    x, y = digits.train.x[:128], digits.train.y[:128]
    fit(model, Batches(x, (y + 1) % 10, batch_size=32), TrainConfig(epochs=1, lr=1e-2, optimizer="adam"),
        device=cpu, trainable=is_lora_parameter, eval_mode=True)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(is_lora_parameter(n) for n in changed)
    assert any(n.endswith("lora_B") for n in changed)
    assert all(torch.equal(b, buffers[n]) for n, b in model.named_buffers())


def test_rfa_forgets_a_digit(digits, digits_model, cpu) -> None:
    model, meta = digits_model
    forget = resolve("class:3", digits)
    out = run_method("rfa", model, UnlearnData(digits, forget), RunContext(cpu, meta, seed=0))
    unlearned = out.result.model
    assert list(unlearned.state_dict()) == list(model.state_dict())
    assert type(unlearned.head) is nn.Linear
    lo, lu = predict_logits(model, digits.train.x), predict_logits(unlearned, digits.train.x)
    assert accuracy(lu, digits.train.y, forget.forget_idx) <= 0.1
    assert accuracy(lu, digits.train.y, forget.retain_idx) >= accuracy(lo, digits.train.y, forget.retain_idx) - 0.03
    norms = out.result.artifacts["residual_norms"]["head"]
    assert norms["forget_residual"] > 3 * norms["retain_residual"]


def test_rfa_config_validation() -> None:
    with pytest.raises(ValueError):
        RFAConfig(layers="everything")
    with pytest.raises(ValueError):
        RFAConfig(rank=0)


@pytest.mark.slow
@pytest.mark.parametrize("config", [RFAConfig(), RFAConfig(layers="last_conv+linear", lam=0.1, epochs=3)], ids=["head", "conv"])
def test_rfa_class_forgetting_on_shapes(shapes_small, shapes_model, cpu, config: RFAConfig) -> None:
    model, meta = shapes_model
    data = shapes_small
    forget = resolve("class:3", data)  # star
    out = run_method("rfa", model, UnlearnData(data, forget), RunContext(cpu, meta, seed=0), config)
    unlearned = out.result.model
    assert list(unlearned.state_dict()) == list(model.state_dict())
    x_f = data.train.x[torch.as_tensor(forget.forget_idx)]
    x_r = data.train.x[torch.as_tensor(forget.retain_idx[::3])]  # a third of D_r keeps the test fast
    y_r = data.train.y[torch.as_tensor(forget.retain_idx[::3])]
    to, tu = predict_logits(model, data.test.x), predict_logits(unlearned, data.test.x)
    test_retain = forget.test_retain_idx(len(data.test))
    assert accuracy(predict_logits(unlearned, x_f), data.train.y[torch.as_tensor(forget.forget_idx)]) <= 0.10
    assert accuracy(tu, data.test.y, forget.test_forget_idx) <= 0.10
    assert accuracy(predict_logits(unlearned, x_r), y_r) >= accuracy(predict_logits(model, x_r), y_r) - 0.03
    assert accuracy(tu, data.test.y, test_retain) >= accuracy(to, data.test.y, test_retain) - 0.03
    # Activation distance on D_r: mean ‖e_u(x) − e_o(x)‖ / mean ‖e_o(x)‖ of the penultimate features
    # (exactly 0 when only the head is adapted).
    fo, fu = extract_features(model, x_r), extract_features(unlearned, x_r)
    distance = ((fu - fo).norm(dim=1).mean() / fo.norm(dim=1).mean()).item()
    assert distance < 0.1
    norms = out.result.artifacts["residual_norms"]
    assert all(v["forget_relative"] > v["retain_relative"] for v in norms.values())
