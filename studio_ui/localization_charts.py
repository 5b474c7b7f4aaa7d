"""Figures for the Localization page: channel-score heatmaps, per-layer budget bars, feature attacks."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from unlearn_core.localize import Mask


def _heat(mask: Mask, max_channels: int) -> tuple[list, np.ndarray]:
    """The weight tensors of `mask` and their [layer, channel] log10 scores (NaN where a layer has fewer channels)."""
    layers = [layer for layer in mask.layers if len(layer.shape) > 1]  # weight tensors: channels are meaningful
    width = min(max_channels, max(len(layer.channel_selected) for layer in layers))
    z = np.full((len(layers), width), np.nan)
    for row, layer in enumerate(layers):
        n = min(width, len(layer.channel_selected))
        scores = layer.channel_scores if layer.channel_scores is not None else layer.channel_fraction
        z[row, :n] = np.log10(np.asarray(scores[:n], dtype=float) + 1e-12)
    return layers, z


def shared_score_range(masks: list[Mask], max_channels: int = 128) -> tuple[float, float]:
    """One (min, max) log10-score range over several masks, so their heatmaps share a colour scale."""
    values = np.concatenate([_heat(m, max_channels)[1].ravel() for m in masks])
    values = values[np.isfinite(values)]
    return (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)


# white fill with a black ring: visible on Viridis' dark purple cells and on its light yellow ones alike
SELECTED_MARKER = dict(color="white", size=6, symbol="circle", line=dict(color="black", width=1.5))


def channel_heatmap(mask: Mask, title: str, max_channels: int = 128,
                    zrange: tuple[float, float] | None = None) -> go.Figure:
    """Layer (rows) x output channel (columns) heatmap of log10 channel scores; selected channels
    are marked with a white dot ringed in black (`SELECTED_MARKER`: readable on dark and light cells). Layers with no scores (layer-order controls) show selection only.
    `zrange` fixes the colour scale (pass `shared_score_range` to compare two masks)."""
    layers, z = _heat(mask, max_channels)
    sel_x, sel_y = [], []
    for row, layer in enumerate(layers):
        picked = np.flatnonzero(np.asarray(layer.channel_selected[:z.shape[1]]))
        sel_x += picked.tolist()
        sel_y += [row] * len(picked)
    names = [f"{layer.layer} {tuple(layer.shape)}" for layer in layers]
    zmin, zmax = zrange if zrange is not None else (None, None)
    fig = go.Figure(go.Heatmap(z=z, y=list(range(len(layers))), colorscale="Viridis", zmin=zmin, zmax=zmax,
                               colorbar=dict(title="log10 score"),
                               hovertemplate="layer %{y}<br>channel %{x}<br>log10 score %{z:.2f}<extra></extra>"))
    fig.add_scatter(x=sel_x, y=sel_y, mode="markers", name="selected channel",
                    marker=SELECTED_MARKER)
    fig.update_layout(
        title=title, xaxis_title="output channel", yaxis_title="layer (input side at the top)",
        yaxis=dict(tickmode="array", tickvals=list(range(len(layers))), ticktext=names, autorange="reversed"),
        height=120 + 28 * len(layers), margin=dict(l=10, r=10, t=50, b=40), legend=dict(orientation="h", y=-0.15),
    )
    return fig


def layer_share_bars(masks: dict[str, Mask], title: str) -> go.Figure:
    """Grouped bars: the share of each parameter tensor's entries that each mask selects."""
    fig = go.Figure()
    for label, mask in masks.items():
        fig.add_bar(x=[layer.name for layer in mask.layers], y=[100 * layer.fraction for layer in mask.layers], name=label)
    fig.update_layout(title=title, barmode="group", xaxis_title="parameter tensor (input side on the left)",
                      yaxis_title="share selected (%)", yaxis_range=[0, 105], height=420, xaxis_tickangle=-45,
                      margin=dict(l=10, r=10, t=50, b=140))
    return fig


def attack_arrows(before: np.ndarray, after: np.ndarray, labels: list[str], pushed: list[str], title: str) -> go.Figure:
    """Forget features before (circles) and after (diamonds) Partial-PGD with an arrow each; diamonds
    are grey where the head still predicts the sample's own class, coloured by the class it was pushed to."""
    fig = go.Figure()
    outcome = ["still its own class" if a == b else f"pushed to {b}" for a, b in zip(labels, pushed, strict=True)]
    for name in sorted(set(outcome), key=lambda n: (n != "still its own class", n)):
        idx = [i for i, o in enumerate(outcome) if o == name]
        fig.add_scatter(x=after[idx, 0], y=after[idx, 1], mode="markers", name=name,
                        marker=dict(size=8, symbol="diamond", color="#9e9e9e" if name == "still its own class" else None),
                        text=[f"label {labels[i]} → {pushed[i]}" for i in idx], hoverinfo="text")
    fig.add_scatter(x=before[:, 0], y=before[:, 1], mode="markers", name="before the attack",
                    marker=dict(size=5, color="#444", symbol="circle-open"), text=labels, hoverinfo="text")
    # the arrows set in one call: 200 add_annotation calls copy the layout each time (24 s on two cores)
    arrows = [dict(x=b[0], y=b[1], ax=a[0], ay=a[1], xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                   arrowhead=2, arrowsize=1, arrowwidth=1, arrowcolor="rgba(80,80,80,0.45)")
              for a, b in zip(before[:200], after[:200], strict=False)]
    fig.update_layout(title=title, xaxis_title="PCA 1", yaxis_title="PCA 2", height=520, annotations=arrows)
    return fig


def dimension_bars(perturbation: np.ndarray, eps: np.ndarray, top: int = 20) -> go.Figure:
    """The feature dimensions the attack moved most (mean |Δz|), next to their ε."""
    order = np.argsort(-perturbation)[:top]
    fig = go.Figure()
    fig.add_bar(x=[str(i) for i in order], y=perturbation[order], name="mean |z_adv − z|")
    fig.add_scatter(x=[str(i) for i in order], y=eps[order], mode="markers", name="ε (the ball's radius)",
                    marker=dict(symbol="line-ew-open", size=18, color="black"))
    fig.update_layout(title=f"The {top} feature dimensions that moved most", xaxis_title="feature dimension",
                      yaxis_title="mean absolute change", xaxis_type="category", height=360)
    return fig


def noise_to_image(noise: np.ndarray) -> np.ndarray:
    """Rescale one noise image [C, H, W] (unbounded) to [0, 1] for display."""
    lo, hi = float(noise.min()), float(noise.max())
    return (noise - lo) / (hi - lo + 1e-12)
