"""Localization: parameter scores, masks under an exact budget, channel aggregation, Partial-PGD."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.forget import resolve
from unlearn_core.localize import (
    LOCALIZERS,
    aggregate,
    attack_features,
    build_mask,
    channel_scores,
    localize,
    mask_overlap,
    partial_pgd,
    score_parameters,
    top_fraction,
)
from unlearn_core.localize.masks import LayerSummary, Mask
from unlearn_core.methods import UnlearnData
from unlearn_core.models import build_model

CPU = torch.device("cpu")
pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def tiny() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = build_model("small_cnn", num_classes=10, in_channels=1, image_size=8, width=4)
    x = torch.rand(24, 1, 8, 8)
    y = torch.randint(0, 10, (24,))
    return model, x, y


def _total(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("localizer", list(LOCALIZERS))
def test_mask_holds_exactly_the_budget(shipped_digits, digits, localizer):
    model, _ = shipped_digits
    data = UnlearnData(digits, resolve("class:3", digits))
    mask = localize(model, data, localizer=localizer, budget=0.3, device=CPU, seed=1)
    assert mask.n_selected == round(0.3 * _total(model))
    assert sum(layer.n_selected for layer in mask.layers) == mask.n_selected
    assert set(mask.masks) == {n for n, _ in model.named_parameters()}
    for m in mask.masks.values():
        assert set(m.unique().tolist()) <= {0.0, 1.0}
    for budget in (0.137, 0.0, 1.0):  # re-rank the same scores at other budgets
        other = build_mask(model, mask.scores, localizer=localizer, granularity=mask.granularity, budget=budget)
        assert other.n_selected == round(budget * _total(model))
    if localizer in ("del", "salun"):  # deterministic
        assert mask_overlap(mask, localize(model, data, localizer=localizer, budget=0.3, device=CPU)) == 1.0


@pytest.mark.parametrize("granularity", ["parameter", "channel"])
def test_both_granularities_hold_the_budget(tiny, granularity):
    model, x, y = tiny
    scores = score_parameters(model, x, y, "weighted_grad", device=CPU)
    mask = build_mask(model, scores, localizer="del", granularity=granularity, budget=0.42)
    assert mask.n_selected == round(0.42 * _total(model))


def test_channel_aggregation_known_answer():
    s = torch.arange(40, dtype=torch.float32).reshape(20, 2) * torch.tensor([1.0, -1.0])  # [C_out=20, 2]
    c = channel_scores(s)
    # h = max(1, int(0.1 * 20)) = 2: each row's score is the mean of its two |entries|
    assert torch.allclose(c, s.abs().mean(dim=1))
    big = torch.rand(30, 3, 3, 3)
    h = 3  # int(0.1 * 30)
    expected = big.reshape(30, -1).topk(h, dim=1).values.mean(dim=1)
    assert torch.allclose(channel_scores(big), expected)
    assert torch.allclose(channel_scores(torch.tensor([-2.0, 1.0])), torch.tensor([2.0, 1.0]))  # 1-D: |s|
    head = torch.rand(5, 8)  # fewer than 10 outputs: h = 1, the max
    assert torch.allclose(channel_scores(head), head.max(dim=1).values)


def test_channel_granularity_gives_every_weight_of_a_channel_one_score(tiny):
    model, x, y = tiny
    scores = score_parameters(model, x, y, "weighted_grad", device=CPU)
    ranked = aggregate(scores, "channel")
    for name, r in ranked.items():
        if r.ndim > 1:
            rows = r.reshape(r.shape[0], -1)
            assert torch.equal(rows, rows[:, :1].expand_as(rows)), name
            assert torch.allclose(rows[:, 0], channel_scores(scores[name]))
    mask = build_mask(model, scores, localizer="del", granularity="channel", budget=0.3)
    partial = 0
    for layer in mask.layers:
        fr = torch.as_tensor(layer.channel_fraction)
        if len(layer.shape) > 1:
            partial += int(((fr > 0) & (fr < 1)).sum())
    assert partial <= 1  # whole channels, except possibly the last one admitted


def test_top_fraction_breaks_ties_by_position():
    scores = {"a": torch.ones(4), "b": torch.ones(2, 3)}
    mask = top_fraction(scores, 0.5)  # 5 of 10 entries, all tied: the first five
    assert mask["a"].tolist() == [1, 1, 1, 1]
    assert mask["b"].reshape(-1).tolist() == [1, 0, 0, 0, 0, 0]


def test_layer_order_controls(tiny):
    model, _, _ = tiny
    names = [n for n, _ in model.named_parameters()]
    sizes = {n: p.numel() for n, p in model.named_parameters()}
    budget = (sizes[names[0]] + sizes[names[1]] + 1) / _total(model)
    shallow = build_mask(model, None, localizer="shallowest", budget=budget)
    assert shallow.masks[names[0]].all() and shallow.masks[names[1]].all()
    assert int(shallow.masks[names[2]].sum()) == round(budget * _total(model)) - sizes[names[0]] - sizes[names[1]]
    deep = build_mask(model, None, localizer="deepest", budget=sizes["head.bias"] / _total(model))
    assert deep.masks["head.bias"].all() and deep.n_selected == sizes["head.bias"]


def test_random_mask_is_seeded(tiny):
    model, _, _ = tiny
    a = build_mask(model, None, localizer="random", budget=0.3, seed=0)
    b = build_mask(model, None, localizer="random", budget=0.3, seed=0)
    c = build_mask(model, None, localizer="random", budget=0.3, seed=1)
    assert mask_overlap(a, b) == 1.0
    assert mask_overlap(a, c) < 0.5  # two independent 30% masks share ~18% of their union


def test_mask_overlap_known_answer():
    a = {"w": torch.tensor([1.0, 1.0, 0.0, 0.0])}
    b = {"w": torch.tensor([0.0, 1.0, 1.0, 0.0])}
    assert mask_overlap(a, b) == pytest.approx(1 / 3)
    assert mask_overlap(a, a) == 1.0
    assert mask_overlap({"w": torch.zeros(3)}, {"w": torch.zeros(3)}) == 1.0


def test_scores_match_a_hand_computed_gradient():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2))
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 1])
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    loss = F.cross_entropy(model(x), y, reduction="sum")
    grads = dict(zip([n for n, _ in model.named_parameters()], torch.autograd.grad(loss, list(model.parameters())),
                     strict=True))
    weighted = score_parameters(model, x, y, "weighted_grad", device=CPU, batch_size=2)  # batches sum up
    grad = score_parameters(model, x, y, "grad", device=CPU)
    weight = score_parameters(model, x, y, "weight", device=CPU)
    for n, p in model.named_parameters():
        assert torch.allclose(weighted[n], (p * grads[n]).abs(), atol=1e-6)
        assert torch.allclose(grad[n], grads[n].abs(), atol=1e-6)
        assert torch.equal(weight[n], p.detach().abs())
        assert torch.equal(p, before[n]) and p.grad is None  # the model is left alone


def test_bad_input_is_rejected(tiny):
    model, x, y = tiny
    with pytest.raises(ValueError, match="budget"):
        build_mask(model, None, localizer="random", budget=1.5)
    with pytest.raises(ValueError, match="granularity"):
        build_mask(model, None, localizer="random", granularity="neuron", budget=0.1)
    with pytest.raises(ValueError, match="needs parameter scores"):
        build_mask(model, None, localizer="del", budget=0.1)
    with pytest.raises(ValueError, match="criterion"):
        score_parameters(model, x, y, "fisher", device=CPU)
    with pytest.raises(ValueError, match="unknown localizer"):
        localize(model, None, localizer="nope", budget=0.1, device=CPU)


class _NoData:
    """Any attribute access fails: data-free localizers must not read the data."""

    def __getattr__(self, name: str):
        raise AssertionError(f"read data.{name}")


@pytest.mark.parametrize("localizer", ["magnitude", "random", "shallowest", "deepest"])
def test_data_free_localizers_read_no_data(tiny, localizer):
    model, _, _ = tiny
    mask = localize(model, _NoData(), localizer=localizer, budget=0.2, device=CPU)
    assert mask.n_selected == round(0.2 * _total(model))


def test_layer_summary_shapes(tiny):
    model, x, y = tiny
    scores = score_parameters(model, x, y, "grad", device=CPU)
    mask = build_mask(model, scores, localizer="salun", granularity="parameter", budget=0.5)
    summary = mask.summary()
    assert summary["n_selected"] == mask.n_selected and len(summary["layers"]) == len(mask.masks)
    for layer in mask.layers:
        c_out = layer.shape[0] if layer.shape else 1
        assert layer.channel_fraction.shape == (c_out,) and layer.channel_scores.shape == (c_out,)
        assert layer.layer == layer.name.rpartition(".")[0]


def test_mask_summary_known_answer():
    """Every key of the per-layer summary, on a model small enough to count by hand."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1, bias=False))  # 0.weight [2,3], 0.bias [2], 1.weight [1,2]
    scores = {
        "0.weight": torch.tensor([[9.0, 1.0, 8.0], [2.0, 3.0, 4.0]]),
        "0.bias": torch.tensor([7.0, 0.5]),
        "1.weight": torch.tensor([[6.0, 0.1]]),
    }
    mask = build_mask(model, scores, localizer="salun", granularity="parameter", budget=0.4)  # 4 of 10 entries
    summary = mask.summary()
    assert {k: summary[k] for k in ("localizer", "granularity", "budget", "n_selected", "n_total", "fraction")} == {
        "localizer": "salun", "granularity": "parameter", "budget": 0.4, "n_selected": 4, "n_total": 10,
        "fraction": 0.4,
    }
    layers = {layer["name"]: layer for layer in summary["layers"]}
    assert list(layers) == ["0.weight", "0.bias", "1.weight"]
    w0, b0, w1 = layers["0.weight"], layers["0.bias"], layers["1.weight"]
    assert set(w0) == {"name", "layer", "shape", "n_total", "n_selected", "fraction", "channel_scores",
                       "channel_fraction", "channel_selected"}
    # top 4 scores: 9, 8 (row 0 of 0.weight), 7 (0.bias[0]) and 6 (1.weight[0, 0])
    assert (w0["layer"], w0["shape"], w0["n_total"], w0["n_selected"]) == ("0", [2, 3], 6, 2)
    assert w0["fraction"] == pytest.approx(2 / 6)
    assert w0["channel_fraction"].tolist() == pytest.approx([2 / 3, 0.0])
    assert w0["channel_selected"].tolist() == [True, False]
    assert w0["channel_scores"].tolist() == pytest.approx([6.0, 3.0])  # row means of |score|
    assert (b0["shape"], b0["n_selected"], b0["channel_selected"].tolist()) == ([2], 1, [True, False])
    assert b0["channel_scores"].tolist() == pytest.approx([7.0, 0.5])
    assert (w1["layer"], w1["shape"], w1["n_selected"], w1["fraction"]) == ("1", [1, 2], 1, 0.5)
    empty = build_mask(model, None, localizer="shallowest", budget=0.0).summary()
    assert empty["fraction"] == 0.0 and all(layer["channel_scores"] is None for layer in empty["layers"])
    assert all(layer["fraction"] == 0.0 for layer in empty["layers"])
    nothing = Mask({}, [], "random", "parameter", 0.1)
    assert (nothing.n_total, nothing.fraction) == (0, 0.0)
    assert LayerSummary("b", "", (0,), 0, 0, None, np.zeros(0), np.zeros(0, bool)).fraction == 0.0


def test_partial_pgd_stays_in_the_ball_and_raises_the_loss():
    torch.manual_seed(0)
    head = nn.Linear(6, 3)
    z = torch.rand(50, 6)
    y = head(z).argmax(dim=1)
    eps = torch.full((6,), 0.2)
    adv = partial_pgd(head, z, y, eps=eps, step=0.05, steps=20, nonnegative=True)
    assert ((adv - z).abs() <= eps + 1e-6).all() and (adv >= 0).all()
    assert F.cross_entropy(head(adv), y) > F.cross_entropy(head(z), y)
    assert head.weight.grad is None
    attack = attack_features(head, z, y, eps_rel=5.0, step_rel=1.0)
    assert attack.nonnegative and attack.flipped.float().mean() > 0.9
    assert ((attack.z_adv - attack.z).abs() <= attack.eps + 1e-6).all()
    assert attack.perturbation.shape == (6,)


# --- known answers: which entries each localizer selects ------------------------------------------


def _expected_channel(score: torch.Tensor) -> torch.Tensor:
    """DEL's channel aggregation written out by hand (masks.py docstring): each output channel's entries
    carry the mean of the channel's top-h |entries|, h = max(1, int(0.1 * C_out)); 1-D tensors keep |s|."""
    a = score.abs().float()
    if a.ndim <= 1:
        return a
    out = torch.empty_like(a)
    h = min(max(1, int(0.1 * a.shape[0])), a[0].numel())
    for c in range(a.shape[0]):
        top = sorted(a[c].reshape(-1).tolist(), reverse=True)[:h]
        out[c] = sum(top) / h
    return out


def _hand_scores(model: nn.Module, x: torch.Tensor, y: torch.Tensor, criterion: str) -> dict[str, torch.Tensor]:
    """The three criteria by plain autograd on the summed loss (independent of scores.py)."""
    params = dict(model.named_parameters())
    if criterion == "weight":
        return {n: p.detach().abs() for n, p in params.items()}
    model.eval()
    grads = torch.autograd.grad(F.cross_entropy(model(x), y, reduction="sum"), list(params.values()))
    model.train()
    g = {n: gr.detach() for n, gr in zip(params, grads, strict=True)}
    if criterion == "grad":
        return {n: v.abs() for n, v in g.items()}
    return {n: (params[n].detach() * g[n]).abs() for n in params}


def _assert_selects_the_top(mask: dict[str, torch.Tensor], scores: dict[str, torch.Tensor], k: int) -> None:
    """Exactly k entries selected, and every selected score >= every unselected one."""
    sel = torch.cat([mask[n].reshape(-1) for n in scores]) > 0
    flat = torch.cat([scores[n].reshape(-1) for n in scores])
    assert int(sel.sum()) == k
    assert flat[sel].min() >= flat[~sel].max() - 1e-6 * flat.abs().max(), "a lower score beat a higher one"


@pytest.mark.parametrize("granularity", ["parameter", "channel"])
@pytest.mark.parametrize("localizer", ["del", "salun", "magnitude", "criticality"])
def test_each_scoring_localizer_selects_exactly_its_top_entries(tiny, localizer, granularity):
    model, x, y = tiny
    # a stand-in for UnlearnData: the first 10 rows are the forget set, all 24 the train set
    data = SimpleNamespace(x_forget=x[:10], y_forget=y[:10], dataset=SimpleNamespace(train=SimpleNamespace(x=x, y=y)))
    examples = {"del": (x[:10], y[:10]), "salun": (x[:10], y[:10]), "criticality": (x, y), "magnitude": (x, y)}
    raw = _hand_scores(model, *examples[localizer], LOCALIZERS[localizer].criterion)
    expected = raw if granularity == "parameter" else {n: _expected_channel(s) for n, s in raw.items()}
    mask = localize(model, data, localizer=localizer, granularity=granularity, budget=0.25, device=CPU)
    _assert_selects_the_top(mask.masks, expected, round(0.25 * _total(model)))
    # and the least-scored entry overall is never chosen at a 25% budget
    flat = torch.cat([expected[n].reshape(-1) for n in expected])
    assert torch.cat([mask.masks[n].reshape(-1) for n in expected])[flat.argmin()] == 0


@pytest.mark.parametrize("granularity", ["parameter", "channel"])
def test_distinct_scores_select_exactly_the_top_k(granularity):
    """Distinct scores: the selection is exactly the k best, known in advance (no tie rule involved)."""
    model = nn.Sequential(nn.Linear(3, 20), nn.Linear(20, 4))  # weights [20, 3], [4, 20]; biases [20], [4]
    gen = torch.Generator().manual_seed(0)
    shapes = {n: p.shape for n, p in model.named_parameters()}
    total = sum(p.numel() for p in model.parameters())
    perm = torch.randperm(total, generator=gen).float() + 1.0  # distinct positive scores
    scores, start = {}, 0
    for n, s in shapes.items():
        scores[n] = perm[start : start + s.numel()].reshape(s)
        start += s.numel()
    ranked = scores if granularity == "parameter" else {n: _expected_channel(s) for n, s in scores.items()}
    flat = torch.cat([ranked[n].reshape(-1) for n in shapes])
    for budget in (0.05, 0.3, 0.5):
        k = round(budget * total)
        mask = build_mask(model, scores, localizer="salun", granularity=granularity, budget=budget)
        chosen = torch.cat([mask.masks[n].reshape(-1) for n in shapes]) > 0
        if granularity == "parameter":
            assert set(torch.nonzero(chosen).reshape(-1).tolist()) == set(flat.topk(k).indices.tolist())
        else:
            _assert_selects_the_top(mask.masks, ranked, k)


def test_channel_granularity_picks_whole_channels_by_their_top_h_mean():
    """Known answer: a [20, 2] weight with h = 2, so channel c scores the mean of its row; rows 19, 18
    have the largest means and are chosen whole at a budget of 4 of 40 entries (the bias scores 0)."""
    model = nn.Sequential(nn.Linear(2, 20))
    w = torch.arange(40, dtype=torch.float32).reshape(20, 2)
    w[0, 0] = 1000.0  # one huge entry: row 0's mean is 500.5, above row 19's 38.5
    scores = {"0.weight": w, "0.bias": torch.zeros(20)}
    mask = build_mask(model, scores, localizer="del", granularity="channel", budget=4 / 60)
    chosen_rows = torch.nonzero(mask.masks["0.weight"].sum(dim=1)).reshape(-1).tolist()
    assert chosen_rows == [0, 19]
    assert mask.masks["0.weight"][[0, 19]].all() and int(mask.masks["0.bias"].sum()) == 0
    param = build_mask(model, scores, localizer="salun", granularity="parameter", budget=4 / 60)
    assert param.masks["0.weight"].reshape(-1).nonzero().reshape(-1).tolist() == [0, 37, 38, 39]


def test_magnitude_selects_the_largest_weights_of_a_known_model():
    model = nn.Sequential(nn.Linear(2, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.1, -5.0], [2.0, 0.3]]))
        model[0].bias.copy_(torch.tensor([-3.0, 0.2]))
    mask = localize(model, None, localizer="magnitude", budget=0.5, device=CPU)  # 3 of 6 entries
    assert mask.masks["0.weight"].tolist() == [[0.0, 1.0], [1.0, 0.0]]
    assert mask.masks["0.bias"].tolist() == [1.0, 0.0]


def test_random_localizer_selects_the_top_of_its_seeded_scores(tiny):
    model, _, _ = tiny
    gen = torch.Generator().manual_seed(7)
    expected = {n: torch.rand(tuple(p.shape), generator=gen) for n, p in model.named_parameters()}
    mask = localize(model, None, localizer="random", budget=0.2, device=CPU, seed=7)
    _assert_selects_the_top(mask.masks, expected, round(0.2 * _total(model)))


@pytest.mark.parametrize("localizer", ["shallowest", "deepest"])
def test_layer_order_localizers_take_entries_in_order(tiny, localizer):
    model, _, _ = tiny
    names = [n for n, _ in model.named_parameters()]
    order = names if localizer == "shallowest" else names[::-1]
    budget = 0.37
    k = round(budget * _total(model))
    mask = localize(model, None, localizer=localizer, budget=budget, device=CPU)
    flat = torch.cat([mask.masks[n].reshape(-1) for n in order])
    assert flat[:k].all() and not flat[k:].any()  # the first k entries walking from that end
