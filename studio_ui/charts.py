"""Plotly figures used by several pages: labelled, titled, readable at a glance."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

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
