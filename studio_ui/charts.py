"""Plotly figures used by several pages: labelled, titled, readable at a glance."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

# Ten clearly distinct class colours (D3 / Tableau's category10, readable from the back of a room).
CLASS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
                "#17becf"]
# One colour per model everywhere: original, unlearned, retrained.
MODEL_COLORS = {"original": "#1f77b4", "unlearned": "#d62728", "retrain": "#2ca02c", "model": "#1f77b4"}


def per_class_bars(class_names: list[str], series: dict[str, list[float]], title: str) -> go.Figure:
    """Grouped bars of per-class accuracy (%), one group per class, one bar per model."""
    fig = go.Figure()
    for name, values in series.items():
        fig.add_bar(x=class_names, y=[None if v is None or np.isnan(v) else 100 * v for v in values], name=name,
                    marker_color=MODEL_COLORS.get(name))
    fig.update_layout(
        title=title, barmode="group", xaxis_title="class", yaxis_title="test accuracy (%)", xaxis_type="category",
        yaxis_range=[0, 105], height=360, margin=dict(t=50, b=40, l=50, r=10), legend_title="model",
    )
    return fig


def image_to_uint8(x: np.ndarray) -> np.ndarray:
    """[C, H, W] floats in [0, 1] to an [H, W] or [H, W, 3] uint8 image for st.image."""
    img = np.clip(np.asarray(x) * 255, 0, 255).astype(np.uint8)
    return img[0] if img.shape[0] == 1 else np.transpose(img, (1, 2, 0))


def upscale(img: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling so tiny images stay crisp in the browser."""
    img = np.repeat(np.repeat(img, factor, axis=0), factor, axis=1)
    return img


def attribution_row(image: np.ndarray, heatmaps: dict[str, np.ndarray], title: str) -> go.Figure:
    """An image and its pixel attribution maps side by side: square panels on one shared,
    symmetric colour range with a colour bar (red supports the class, blue argues against it).

    `image` is [H, W] or [H, W, 3] uint8; `heatmaps` maps a panel title to an [H, W] map.
    """
    from plotly.subplots import make_subplots

    rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
    lim = max((float(np.abs(h).max()) for h in heatmaps.values()), default=1.0) or 1.0
    fig = make_subplots(rows=1, cols=1 + len(heatmaps), subplot_titles=["image", *heatmaps],
                        horizontal_spacing=0.02)
    fig.add_trace(go.Image(z=rgb, hoverinfo="skip"), row=1, col=1)
    for col, heat in enumerate(heatmaps.values(), start=2):
        fig.add_trace(go.Heatmap(z=heat, colorscale="RdBu_r", zmin=-lim, zmax=lim, showscale=col == 2,
                                 colorbar=dict(title="IG", len=0.9, thickness=14),
                                 hovertemplate="x %{x}, y %{y}<br>attribution %{z:.3g}<extra></extra>"),
                      row=1, col=col)
        fig.update_yaxes(autorange="reversed", row=1, col=col)
    for col in range(1, 2 + len(heatmaps)):
        axis = "" if col == 1 else str(col)
        fig.update_xaxes(visible=False, constrain="domain", row=1, col=col)
        fig.update_yaxes(visible=False, scaleanchor=f"x{axis}", constrain="domain", row=1, col=col)
    fig.update_layout(title=title, height=260, width=220 * (1 + len(heatmaps)) + 80,
                      margin=dict(l=10, r=10, t=70, b=10))
    return fig


def chance_line(fig: go.Figure, y: float = 0.5, text: str = "chance") -> go.Figure:
    """A dotted horizontal line at `y` labelled `text` in the right margin, outside the plot area, so
    the label never sits on a bar; returns `fig`."""
    fig.add_hline(y=y, line_dash="dot", line_color="#555")
    fig.add_annotation(x=1.0, xref="paper", xanchor="left", y=y, yref="y", text=text, showarrow=False,
                       font=dict(size=11, color="#555"))
    right = max(60, (fig.layout.margin.r or 0) if fig.layout.margin else 60)
    fig.update_layout(margin=dict(r=right))
    return fig
