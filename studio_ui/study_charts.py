"""Figures of a stored seed study (`unlearn_core.study`): retraining's spread per metric with the
unlearned seeds, the per-example ε histogram, and the scaled confidences of single forget examples.

Every number drawn comes from the study's stored result or its stored per-example scores; the
captions say what each figure shows and how to read it. Used by Compare and the HTML report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .charts import MODEL_COLORS
from .labels import metric_label

VERDICT_WORDS = {"within": "within retraining's spread", "outside": "OUTSIDE retraining's spread",
                 "no signal": "no signal (attack at chance)"}
VERDICT_COLORS = {"within": "#2ca02c", "outside": "#d62728", "no signal": "#7f7f7f"}
BAND_COLOR = "rgba(44,160,44,0.18)"
_RETRAIN_LANE, _UNLEARNED_LANE = -0.25, 0.25
# the ε histogram's bars by what an example in them scores: 1 green, 1/2, 1/4, 1/8 ... then 0 red
_POINT_COLORS = ["#2ca02c", "#8cc665", "#d9c84e", "#f0a23b", "#e8743b", "#d62728"]

BANDS_CAPTION = (
    "One panel per headline metric, each zoomed to its own values (in %). The green band spans the K retrained "
    "models, from the lowest to the highest value (green ticks: each model; thick green line: their mean): that is "
    "how far retraining disagrees with itself across training seeds. Red dots are the K unlearned runs (one per "
    "method seed), the open diamond their mean. Red dots inside the band look like retraining. The panel's title "
    "gives the test's verdict (stated below), which weighs all K dots at once: a dot or two just outside the band "
    "can be chance, especially at small K. A band of zero width means every retrained model scored the same."
)
EPSILON_CAPTION = (
    "Each forget example gets an ε: how well the best threshold attack on its scaled confidence log(p/(1-p)) tells "
    "the K unlearned models' outputs from the K retrained models' outputs (0 = no attack does better than a coin). "
    "Bars count examples per ε bin of 0.5; an example scores 1 in the first bin, half as much in each next bin, and "
    "0 from the last bin on (with K models per side no larger ε can be told apart from chance). F is the mean score. "
    "Mass on the left is good; a tall bar on the right means many examples still give the unlearned models away."
)
EXAMPLES_CAPTION = (
    "For the forget examples with the largest ε: the scaled confidence log(p/(1-p)) of the true label under each "
    "unlearned model (red) and each retrained model (green). Where the two groups of dots do not overlap, an "
    "attacker can tell which kind of model produced the output: the example is not forgotten like retraining would."
)


def _pct_values(cell: dict[str, Any]) -> list[float]:
    return [100 * v for v in cell.get("values", []) if v is not None and math.isfinite(v)]


def verdict_title(key: str, verdict: str | None) -> str:
    """A panel title: the metric's friendly name and its verdict in words."""
    return f"{metric_label(key)}: {VERDICT_WORDS.get(verdict or '', 'not judged')}"


def bands_figure(result: dict[str, Any]) -> go.Figure:
    """Per headline metric: the band of the K retrained values (min-max, mean as a line) and the
    unlearned seeds as dots, one panel each with its own x range (in %)."""
    keys = list(result["verdict"])
    height, top, bottom = 125 * max(1, len(keys)) + 60, 60, 30
    fig = make_subplots(rows=max(1, len(keys)), cols=1, vertical_spacing=0.55 / max(1, len(keys)),
                        subplot_titles=[verdict_title(k, result["verdict"][k]) for k in keys])
    for row, key in enumerate(keys, start=1):
        retrain, unlearned = _pct_values(result["retrain"][key]), _pct_values(result["unlearned"][key])
        everything = retrain + unlearned
        if not everything:
            continue
        lo, hi = min(everything), max(everything)
        pad = max(0.5, 0.15 * (hi - lo))
        lanes = [_UNLEARNED_LANE + 0.07 * (i - (len(unlearned) - 1) / 2) / max(1, len(unlearned))
                 for i in range(len(unlearned))]  # a small spread, so equal values stay countable
        if retrain:
            fig.add_shape(type="rect", x0=min(retrain), x1=max(retrain), y0=-0.5, y1=0.5, fillcolor=BAND_COLOR,
                          line=dict(color=MODEL_COLORS["retrain"], width=1), layer="below", row=row, col=1)
            mean = float(np.mean(retrain))
            fig.add_scatter(x=[mean, mean], y=[-0.5, 0.5], mode="lines", line=dict(color=MODEL_COLORS["retrain"],
                            width=4), name="retrained: mean (band: min to max)", showlegend=row == 1,
                            legendgroup="r", hovertemplate=f"retrained mean {mean:.2f}%<extra></extra>", row=row,
                            col=1)
            fig.add_scatter(x=retrain, y=[_RETRAIN_LANE] * len(retrain), mode="markers",
                            name="retrained models (K seeds)",
                            marker=dict(symbol="line-ns-open", size=18, color=MODEL_COLORS["retrain"],
                                        line=dict(width=2.5, color=MODEL_COLORS["retrain"])),
                            showlegend=row == 1, legendgroup="rv",
                            hovertemplate="retrained model: %{x:.2f}%<extra></extra>", row=row, col=1)
        if unlearned:
            fig.add_scatter(x=unlearned, y=lanes, mode="markers", name="unlearned runs (K seeds)",
                            marker=dict(size=10, color=MODEL_COLORS["unlearned"], opacity=0.75,
                                        line=dict(color="white", width=1)),
                            showlegend=row == 1, legendgroup="u",
                            hovertemplate="unlearned run: %{x:.2f}%<extra></extra>", row=row, col=1)
            fig.add_scatter(x=[float(np.mean(unlearned))], y=[_UNLEARNED_LANE], mode="markers",
                            name="unlearned: mean", marker=dict(symbol="diamond-open", size=16, color="black",
                                                                line=dict(width=2)),
                            showlegend=row == 1, legendgroup="um",
                            hovertemplate="unlearned mean %{x:.2f}%<extra></extra>", row=row, col=1)
        fig.update_xaxes(range=[max(lo - pad, -0.3 * pad), min(hi + pad, 100 + 0.3 * pad)], ticksuffix="%",
                         row=row, col=1)
        fig.update_yaxes(range=[-0.6, 0.6], tickvals=[_RETRAIN_LANE, _UNLEARNED_LANE],
                         ticktext=["retrained", "unlearned"], showgrid=False, zeroline=False, row=row, col=1)
    for annotation, key in zip(fig.layout.annotations, keys, strict=False):  # the verdict's colour on its title
        annotation.font = dict(color=VERDICT_COLORS.get(result["verdict"][key], "#222"), size=14)
    fig.update_layout(height=height, margin=dict(t=top, b=bottom, l=80, r=20),
                      legend=dict(orientation="h", x=0, y=1 + 32 / (height - top - bottom), yanchor="bottom",
                                  font=dict(size=12)))
    return fig


def epsilon_bins(epsilons: Sequence[float], max_scored: float, bucket: float = 0.5) -> tuple[list[str], list[int],
                                                                                              list[float]]:
    """The ε histogram's bars: labels, counts and each bin's score per example (the last bin,
    from `max_scored` on, scores 0 and also holds the capped ε of perfectly separable examples)."""
    n_bins = max(1, int(round(max_scored / bucket)))
    eps = np.asarray(list(epsilons), dtype=np.float64)
    labels, counts, points = [], [], []
    for b in range(n_bins):
        lo, hi = b * bucket, (b + 1) * bucket
        labels.append(f"{lo:g}–{hi:g}")
        counts.append(int(((eps >= lo) & (eps < hi)).sum()))
        points.append(0.5 ** b)
    labels.append(f"≥ {n_bins * bucket:g} (scores 0)")
    counts.append(int((eps >= n_bins * bucket).sum()))
    points.append(0.0)
    return labels, counts, points


def epsilon_figure(result: dict[str, Any]) -> go.Figure:
    """The per-example ε histogram of a study, bars coloured by what each bin scores."""
    rule = result.get("forgetting_quality_rule", {})
    max_scored = float(rule.get("max_scored_epsilon") or 1.0)
    labels, counts, points = epsilon_bins([p["epsilon"] for p in result["per_example"]], max_scored,
                                          float(rule.get("bucket", 0.5)))
    colors = [_POINT_COLORS[min(len(_POINT_COLORS) - 2, round(-math.log2(p)))] if p > 0 else _POINT_COLORS[-1]
              for p in points]
    fig = go.Figure(go.Bar(x=labels, y=counts, marker_color=colors, text=counts, textposition="outside",
                           customdata=points,
                           hovertemplate="ε %{x}: %{y} examples<br>each scores %{customdata:.3g}<extra></extra>"))
    fig.update_layout(
        height=340, margin=dict(t=60, b=50, l=50, r=10), xaxis_title="ε per forget example (0 = indistinguishable)",
        yaxis_title="forget examples", xaxis_type="category",
        title=f"Per-example ε over {len(result['per_example'])} forget examples (F = "
              f"{_fmt(result.get('forgetting_quality'))})",
        yaxis_range=[0, max(counts + [1]) * 1.18],
    )
    return fig


def _fmt(value: float | None) -> str:
    return "–" if value is None or value != value else f"{value:.3f}"


def most_distinguishable(per_example: Sequence[dict[str, Any]], n: int = 8) -> list[int]:
    """Positions (in the study's forget order) of the `n` examples with the largest ε, ties broken
    by how far apart the two medians are."""
    order = sorted(range(len(per_example)), key=lambda i: (-per_example[i]["epsilon"],
                                                           -abs(per_example[i]["unlearned_median"]
                                                                - per_example[i]["retrain_median"])))
    return order[:n]


def examples_figure(scores: dict[str, np.ndarray], positions: Sequence[int], labels: Sequence[str]) -> go.Figure:
    """Scaled confidences of chosen forget examples: K unlearned (red) and K retrained (green) dots
    per example, side by side; `positions` index the study's forget order, `labels` name them."""
    fig = go.Figure()
    for side, name, offset in (("unlearned", "unlearned models", -0.17), ("retrain", "retrained models", 0.17)):
        xs, ys = [], []
        for x, pos in enumerate(positions):
            values = np.asarray(scores[side])[:, pos]
            xs += [x + offset] * len(values)
            ys += values.tolist()
        fig.add_scatter(x=xs, y=ys, mode="markers", name=name,
                        marker=dict(size=9, color=MODEL_COLORS["unlearned" if side == "unlearned" else "retrain"],
                                    opacity=0.75, line=dict(color="white", width=1)),
                        hovertemplate=f"{name}: %{{y:.2f}}<extra></extra>")
    fig.update_layout(
        height=340, margin=dict(t=60, b=60, l=60, r=10), title="Scaled confidence of the most distinguishable "
                                                                "forget examples, per model",
        xaxis=dict(tickmode="array", tickvals=list(range(len(positions))), ticktext=list(labels),
                   title="forget example (train image #, its ε)"),
        yaxis_title="log(p_y / (1 − p_y))", legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0),
    )
    return fig
