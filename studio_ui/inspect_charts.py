"""Figures of the inspection of one run (CKA per layer, prediction matrices, threshold attack,
per-sample confidences, probe, relearn). Plain plotly from plain values, so the Compare page and
the HTML report draw the same thing."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from unlearn_core.inspect.membership import LABELS as SCORE_LABELS

from .charts import MODEL_COLORS, chance_line

WHO = ("original", "unlearned", "retrain")

ESTIMATOR_TEXT = {
    "biased": "biased linear CKA (Kornblith et al. 2019; with layers much wider than the sample it scores even "
              "unrelated representations high)",
    "debiased": "debiased linear CKA (unbiased HSIC, Song et al. 2012, as in Nguyen et al. 2021; about 0 for "
                "unrelated representations, whatever the layer's width)",
}


def cka_caption(estimator: str = "biased") -> str:
    """What the CKA figure of `cka_figure(layers, estimator)` shows."""
    return (
        f"{ESTIMATOR_TEXT[estimator].capitalize()}: 1 = the same representation up to rotation and scale. Lines: the "
        "unlearned model's layers against the original (blue) and the retrained model (green), on forget samples "
        "(solid) and on test images of the kept classes (dotted); the wide pale grey dashed line, drawn under the "
        "others: original against retrained, the distance unlearning should cover (where a coloured line lies on "
        "it, that line is at the same value). References against the retrained model, on forget samples, where "
        "computed: the ceiling (black dash-dots: a second retrained model of another training seed, as close as "
        "retraining gets to itself) and the floor (brown long dashes: an untrained network of the same "
        "architecture, what no learning at all scores); the shaded band lies between them. The green solid line "
        "means something only where the band is wide: near the ceiling the layer is like retraining's, near the "
        "floor no closer than an untrained network.")


CKA_CAPTION = cka_caption("biased")  # the HTML report draws `cka_figure`'s default estimator
MATRIX_CAPTION = (
    "Rows: what the original model predicts; columns: what the other model predicts, on the same samples (counts). "
    "Where do the forgotten samples go after unlearning, and is it where retraining sends them?")
MEMBERSHIP_CAPTION = (
    "The attack calls a sample a member when its score is on the member side of the threshold: scaled confidence "
    "log(p / (1 - p)) of the true label (LiRA's statistic; member when at least the threshold; the same ranking as "
    "the confidence or the loss, on a scale that spreads out confident samples), or the prediction's entropy "
    "(member when at most the threshold; ignores the label, so it is another attack). TPR: forget samples "
    "called members; FPR: unseen test samples called members; accuracy: (TPR + 1 - FPR) / 2, 0.5 = cannot tell "
    "them apart. The unlearned model's row should match the retrained model's, not reach 0.5 everywhere.")
SCATTER_CAPTION = (
    "Each point is a forget sample: the retrained model's confidence in its true label (x) against the unlearned "
    "model's (y). Points above the diagonal are still remembered. Click a point to inspect the sample.")
PROBE_CAPTION = (
    "Held-out accuracy of a linear probe reading the forgotten data out of the penultimate features (0.5 = chance). "
    "The retrained model is the reference and it is usually far above chance: a model that never saw the class "
    "still groups its images together. An unlearned model should read out about as well as the retrained one.")


def probe_caption(probe: dict[str, Any]) -> str:
    """PROBE_CAPTION with what this probe separates."""
    return f"Probe: {probe.get('what', '')}. " + PROBE_CAPTION
RELEARN_CAPTION = (
    "Forget accuracy on held-out forget samples while a copy of each model is finetuned on a few forget samples. "
    "An unlearned model that relearns much faster than the retrained one has hidden the data, not removed it.")


CEILING_COLOR, FLOOR_COLOR, BAND_COLOR = "#111111", "#8c564b", "rgba(44, 160, 44, 0.10)"


def cka_figure(layers: list[dict[str, Any]], estimator: str = "biased") -> go.Figure:
    """Across the layers, with `estimator` (``biased`` | ``debiased``): two lines per side (the
    unlearned model vs the original and vs the retrained one), the original-vs-retrained reference,
    and, where the rows hold them, the floor and the ceiling (forget samples) with a band between."""
    if estimator not in ESTIMATOR_TEXT:
        raise ValueError(f"estimator must be one of {', '.join(ESTIMATOR_TEXT)}; got {estimator!r}")
    est = "" if estimator == "biased" else "_debiased"
    names = [row["name"] for row in layers]
    fig = go.Figure()
    floor = [row.get(f"cka_floor{est}") for row in layers]
    ceiling = [row.get(f"cka_ceiling{est}") for row in layers]
    if any(v is not None for v in floor):
        fig.add_scatter(x=names, y=floor, mode="lines+markers", name="floor: untrained vs retrained, forget samples",
                        line=dict(color=FLOOR_COLOR, dash="longdash"), marker=dict(symbol="triangle-down"))
    if any(v is not None for v in ceiling):
        fill = "tonexty" if any(v is not None for v in floor) else None
        fig.add_scatter(x=names, y=ceiling, mode="lines+markers", fill=fill, fillcolor=BAND_COLOR,
                        name="ceiling: retrained vs retrained (another seed), forget samples",
                        line=dict(color=CEILING_COLOR, dash="dashdot"), marker=dict(symbol="triangle-up"))
    series = (("cka_original_vs_retrain", "original vs retrained (reference)", "#7f7f7f"),  # first: drawn under
              ("cka_vs_original", "unlearned vs original", MODEL_COLORS["original"]),
              ("cka_vs_retrain", "unlearned vs retrained", MODEL_COLORS["retrain"]))
    for key, label, color in series:
        reference = "reference" in label
        for suffix, side, dash in (("", "forget samples", "dash" if reference else "solid"),
                                   ("_test", "test images", "dot")):
            values = [row.get(key + est + suffix) for row in layers]
            if all(v is None for v in values) or (suffix and reference):
                continue
            fig.add_scatter(x=names, y=values, mode="lines+markers", name=f"{label}, {side}",
                            line=dict(color=color, dash=dash, width=5 if reference else 2),
                            opacity=0.55 if reference else 1.0)
    shown = [v for trace in fig.data for v in trace.y if v is not None]
    low = min([0.0, *shown]) - 0.03
    fig.update_layout(title=f"Layer-wise similarity of representations ({estimator} linear CKA)",
                      xaxis_title="layer (input → head)", yaxis_title=f"{estimator} linear CKA",
                      yaxis_range=[low, 1.03], height=420, legend_title="pair, images", xaxis_type="category")
    return fig


def prediction_matrices_figure(matrices: dict[str, Any], classes: list[str], what: str) -> go.Figure:
    """original → unlearned beside original → retrained, as count heatmaps on one colour scale."""
    shown = [who for who in ("unlearned", "retrain") if matrices.get(who) is not None]
    titles = [f"original → {'retrained' if who == 'retrain' else who}" for who in shown]
    fig = make_subplots(rows=1, cols=len(shown), subplot_titles=titles, horizontal_spacing=0.12)
    top = max(1, max(int(np.max(matrices[who])) for who in shown))
    for col, who in enumerate(shown, start=1):
        m = np.asarray(matrices[who])
        fig.add_heatmap(z=m, x=classes, y=classes, colorscale="Blues", zmin=0, zmax=top, showscale=col == len(shown),
                        text=np.where(m > 0, m, "").astype(str), texttemplate="%{text}", colorbar=dict(title="samples"),
                        hovertemplate="original predicts %{y}<br>model predicts %{x}<br>%{z} samples<extra></extra>",
                        row=1, col=col)
        fig.update_xaxes(title_text="predicted after", type="category", row=1, col=col)
        fig.update_yaxes(title_text="predicted by the original", type="category", autorange="reversed", row=1, col=col)
    fig.update_layout(title=f"Prediction matrices: {what} ({matrices.get('n', '?')} samples)",
                      height=200 + 28 * len(classes))
    return fig


def membership_figure(forget: dict[str, np.ndarray], nonmember: dict[str, np.ndarray], score: str,
                      threshold: float) -> go.Figure:
    """Histograms of the attack score on forget samples per model and on unseen test images, with the threshold."""
    fig = go.Figure()
    values = np.concatenate([*forget.values(), *nonmember.values()])
    bins = dict(start=float(values.min()), end=float(values.max()) + 1e-9, size=max(1e-6, float(np.ptp(values)) / 30))
    for who, v in forget.items():
        fig.add_histogram(x=v, name=f"forget samples, {who}", opacity=0.55, xbins=bins, histnorm="probability",
                          marker_color=MODEL_COLORS[who])
    for who, v in nonmember.items():
        fig.add_histogram(x=v, name=f"unseen test images, {who}", opacity=0.35, xbins=bins, histnorm="probability",
                          marker_color=MODEL_COLORS[who], marker_pattern_shape="/")
    fig.add_vline(x=threshold, line_dash="dash", annotation_text="threshold")
    label = SCORE_LABELS[score]
    fig.update_layout(barmode="overlay", height=380, title=f"Attack score: {label}", xaxis_title=label,
                      yaxis_title="share of samples")
    return fig


def remembered_scatter(retrain_conf: np.ndarray, unlearned_conf: np.ndarray, train_idx: np.ndarray) -> go.Figure:
    """Forget samples by retrained (x) vs unlearned (y) true-label confidence; customdata is the position."""
    excess = unlearned_conf - retrain_conf
    fig = go.Figure()
    fig.add_scatter(x=retrain_conf, y=unlearned_conf, mode="markers", customdata=np.arange(len(train_idx)),
                    marker=dict(size=8, color=excess, colorscale="RdBu_r", cmin=-1, cmax=1, opacity=0.85,
                                line=dict(width=1, color="#555"), colorbar=dict(title="unlearned −<br>retrained")),
                    text=[f"#{i}" for i in train_idx], name="forget samples",
                    hovertemplate="sample %{text}<br>retrained %{x:.3f}<br>unlearned %{y:.3f}<extra></extra>")
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="#999", dash="dash"), name="as retrained",
                    hoverinfo="skip")
    fig.update_layout(title="Still remembered? Forget samples, unlearned vs retrained confidence", height=460,
                      legend=dict(orientation="h", yanchor="top", y=-0.18),
                      xaxis_title="retrained model's confidence in the true label",
                      yaxis_title="unlearned model's confidence", xaxis_range=[-0.03, 1.03], yaxis_range=[-0.03, 1.03])
    return fig


def probe_figure(probe: dict[str, Any]) -> go.Figure:
    """Probe accuracy per model with the chance line."""
    shown = [who for who in WHO if probe.get(who) is not None]
    fig = go.Figure(go.Bar(x=shown, y=[probe[who] for who in shown], marker_color=[MODEL_COLORS[w] for w in shown],
                           text=[f"{100 * probe[w]:.1f}%" for w in shown], textposition="outside"))
    chance_line(fig)  # label in the margin: never on a bar
    fig.update_layout(title="Linear probe accuracy on the penultimate features", yaxis_title="held-out probe accuracy",
                      yaxis_range=[0, 1.1], height=340, xaxis_title="model")
    return fig


def relearn_figure(relearn: dict[str, Any]) -> go.Figure:
    """Forget accuracy against finetuning steps, one line per model."""
    fig = go.Figure()
    for who in WHO:
        if relearn.get(who) is not None:
            fig.add_scatter(x=relearn["steps"], y=relearn[who], mode="lines+markers", name=who,
                            line=dict(color=MODEL_COLORS[who]))
    fig.update_layout(title=f"Relearn test: finetuning on {relearn.get('shots', '?')} forget samples",
                      xaxis_title="finetuning steps", yaxis_title="forget accuracy (held-out forget samples)",
                      yaxis_range=[-0.03, 1.03], height=360, legend_title="model")
    return fig
